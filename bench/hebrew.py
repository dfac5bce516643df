"""Synthetic Hebrew lecture speech with exact word timings, from espeak-ng.

Each sentence is synthesised on its own through libespeak-ng (ctypes), which reports where every word
and phoneme starts in the audio it produced (`sample` of espeakEVENT_WORD / espeakEVENT_PHONEME). A
word starts at its first phoneme and ends where the next phoneme after it starts (the next word, or a
pause phoneme). Each sentence clip is trimmed of its leading/trailing silence by energy, then placed
on one long timeline with chosen gaps (short, medium and long pauses, some over 5 s), so sentence
boundaries are exact by construction; word starts are espeak's own, checked against the energy
envelope at every pause (see `verify_edges`); a word followed by a pause ends at its last audible
frame (espeak's pause phoneme can start up to ~150 ms after the voice stops). A low noise floor is
added so silence is not digital zero, as in a real recording. Deterministic for a given seed.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import multiprocessing
import random
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

SAMPLE_RATE = 16_000

# Sentences in the style of a Daf Yomi lecture (written for this benchmark; no niqqud, as transcripts are).
SENTENCES = [
    "שלום לכולם, אנחנו ממשיכים היום בלימוד הדף היומי במסכת ברכות.",
    "בדף הקודם ראינו את המחלוקת בין רבי אליעזר לבין חכמים.",
    "המשנה שואלת מאימתי קורין את שמע בערבית.",
    "רבי אליעזר אומר עד סוף האשמורה הראשונה.",
    "וחכמים אומרים עד חצות, ורבן גמליאל אומר עד שיעלה עמוד השחר.",
    "הגמרא שואלת, תנא היכא קאי דקתני מאימתי?",
    "ועונה הגמרא שהתנא סומך על הפסוק בשכבך ובקומך.",
    "עכשיו שימו לב, כי כאן מגיעה נקודה חשובה מאוד.",
    "אם הזמן נקבע לפי שכיבת בני אדם, אז למה המשנה מתחילה דווקא בצאת הכוכבים?",
    "רש״י מסביר שהכוהנים נכנסים לאכול בתרומתם בשעה שהכוכבים יוצאים.",
    "נחזור רגע אחורה ונקרא שוב את לשון המשנה בעיון.",
    "יש כאן שלוש שיטות, וכל אחת מהן מבוססת על הבנה אחרת של הפסוק.",
    "לפי רבי אליעזר, זמן שכיבה הוא רק תחילת הלילה.",
    "לפי חכמים, כל זמן שבני אדם הולכים לישון נחשב זמן שכיבה.",
    "ורבן גמליאל סובר שכל הלילה כולו הוא זמן שכיבה.",
    "מעשה שבאו בניו מבית המשתה, ואמרו לו לא קרינו את שמע.",
    "אמר להם, אם לא עלה עמוד השחר חייבים אתם לקרות.",
    "ולא זו בלבד אמרו, אלא כל מה שאמרו חכמים עד חצות מצוותן עד שיעלה עמוד השחר.",
    "אם כן, למה אמרו חכמים עד חצות?",
    "כדי להרחיק את האדם מן העבירה.",
    "זה יסוד גדול בדרכם של חכמים, לעשות סייג לתורה.",
    "הגמרא מביאה כאן ברייתא שמוסיפה פרט חשוב.",
    "תנו רבנן, מאימתי קורין את שמע בערבין?",
    "משעה שבני אדם נכנסים לאכול פיתן בערבי שבתות, דברי רבי מאיר.",
    "וחכמים אומרים, משעה שהכוהנים זכאים לאכול בתרומתן.",
    "סימן לדבר צאת הכוכבים, ואף על פי שאין ראיה לדבר, זכר לדבר.",
    "שנאמר, ואנחנו עושים במלאכה, וחציים מחזיקים ברמחים מעלות השחר עד צאת הכוכבים.",
    "ואומר, והיה לנו הלילה משמר והיום מלאכה.",
    "רואים כאן איך הגמרא לומדת הלכה מתוך פסוקים בספר נחמיה.",
    "נעצור כאן לרגע, ונחשוב מה ההבדל המעשי בין השיטות.",
    "ההבדל הוא בזמן שבין השמשות, שהוא ספק יום ספק לילה.",
    "לפי שיטה אחת אפשר לקרוא כבר אז, ולפי שיטה אחרת צריך לחכות.",
    "הפוסקים דנים בשאלה הזאת באריכות רבה.",
    "הרמב״ם פוסק כחכמים, והשולחן ערוך הולך בעקבותיו.",
    "אבל יש מנהגים שונים בקהילות ישראל לגבי קריאת שמע של ערבית.",
    "מי שמתפלל ערבית מוקדם, צריך לחזור ולקרוא קריאת שמע בזמנה.",
    "זה דבר שכל אחד מאיתנו יכול ליישם כבר הערב.",
    "נעבור עכשיו לסוגיה הבאה, שעוסקת בברכות של קריאת שמע.",
    "בשחר מברך שתיים לפניה ואחת לאחריה, ובערב שתיים לפניה ושתיים לאחריה.",
    "אחת ארוכה ואחת קצרה, מקום שאמרו להאריך אינו רשאי לקצר.",
    "מקום שאמרו לקצר אינו רשאי להאריך, לחתום אינו רשאי שלא לחתום.",
    "הגמרא מסבירה שסדר הברכות נקבע על ידי אנשי כנסת הגדולה.",
    "ולכן אין לנו רשות לשנות את המטבע שטבעו חכמים בברכות.",
    "שאלה טובה שנשאלה בשיעור הקודם, מה הדין אם טעה ושינה?",
    "התשובה תלויה אם שינה את עיקר הברכה או רק את לשונה.",
    "אם אמר את עיקר הברכה, יצא ידי חובתו בדיעבד.",
    "אבל לכתחילה ודאי שצריך לומר את הנוסח המקובל.",
    "בואו נסכם את מה שלמדנו היום בכמה נקודות.",
    "ראשית, זמן קריאת שמע של ערבית מתחיל בצאת הכוכבים.",
    "שנית, לדעת חכמים יש לקרוא עד חצות כדי להרחיק מן העבירה.",
    "שלישית, בדיעבד אפשר לקרוא עד שיעלה עמוד השחר.",
    "ורביעית, מטבע הברכות נקבע על ידי חכמים ואין לשנות אותו.",
    "מחר נמשיך בדף הבא, ונלמד על ברכת אהבה רבה.",
    "לפני שנסיים, עוד הערה קטנה על הגמרא שלמדנו בתחילת השיעור.",
    "רבי יהושע בן לוי אומר, תפילות אבות תקנום.",
    "ורבי יוסי ברבי חנינא אומר, תפילות כנגד תמידין תקנום.",
    "תניא כוותיה דרבי יהושע בן לוי, ותניא כוותיה דרבי יוסי ברבי חנינא.",
    "אברהם תקן תפילת שחרית, שנאמר וישכם אברהם בבוקר.",
    "יצחק תקן תפילת מנחה, שנאמר ויצא יצחק לשוח בשדה לפנות ערב.",
    "יעקב תקן תפילת ערבית, שנאמר ויפגע במקום וילן שם.",
    "אין פגיעה אלא תפילה, כמו שנאמר ואל תפגע בי.",
    "הרי לנו מקור נוסף לזמני התפילה, שמתאים גם לזמני קריאת שמע.",
    "מי שרוצה להעמיק, מוזמן לעיין בתוספות על אתר.",
    "התוספות שואלים שאלה חזקה על פירושו של רש״י.",
    "והם מביאים ראיה מן הירושלמי, שאומר דבר אחר לגמרי.",
    "נשאיר את זה לעיון לשיעור של מחר בבוקר.",
    "תודה רבה לכולם, ושנזכה להמשיך ללמוד יחד בשמחה.",
]


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Sentence:
    text: str
    rate: int  # espeak-ng words per minute
    start: float  # placement on the timeline (ground truth by construction)
    end: float
    words: list[Word]


# --- libespeak-ng through ctypes -------------------------------------------------------------------

_EVENT_LIST_TERMINATED, _EVENT_WORD, _EVENT_PHONEME = 0, 1, 7
_AUDIO_OUTPUT_SYNCHRONOUS, _INITIALIZE_PHONEME_EVENTS = 2, 1
_RATE, _POS_CHARACTER, _CHARS_UTF8 = 1, 1, 1


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class Espeak:
    """One synchronous libespeak-ng instance reporting word and phoneme events.

    The library and its voice data come from the PyPI package espeakng-loader, so no system
    package is needed (the same espeak-ng 1.52 the Debian package ships).
    """

    def __init__(self, voice: str = "he") -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_PHONEME_EVENTS
        )
        if self.sample_rate <= 0:
            raise RuntimeError("libespeak-ng failed to initialise")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, bytes]] = []
        self._callback = _Callback(self._collect)  # keep a reference: C holds a raw pointer
        self._lib.espeak_SetSynthCallback(self._callback)
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"espeak-ng has no voice {voice!r}")

    def _collect(self, wav: ctypes._Pointer, count: int, events: ctypes._Pointer) -> int:  # type: ignore[type-arg]
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            e = events[i]
            self._events.append((e.type, e.text_position, e.length, e.sample, bytes(e.id).rstrip(b"\0")))
            i += 1
        return 0

    def synthesize(self, text: str, rate: int) -> tuple[np.ndarray, list[tuple[int, int, int, int, bytes]]]:
        """(float32 samples at `sample_rate`, events as (type, text_position, length, sample, id))."""
        self._chunks, self._events = [], []
        # The library keeps one callback for the process: another instance may have replaced it
        # since, and been freed with its callback (a segfault in the next synthesis).
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lib.espeak_SetParameter(_RATE, rate, 0)
        data = text.encode("utf-8")
        buffer = ctypes.create_string_buffer(data)
        status = self._lib.espeak_Synth(buffer, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed ({status})")
        audio = (
            np.concatenate(self._chunks).astype(np.float32) / 32768.0
            if self._chunks
            else np.zeros(0, np.float32)
        )
        return audio, list(self._events)


def word_spans(text: str, events: list[tuple[int, int, int, int, bytes]], sample_rate: int) -> list[Word]:
    """Each word's [first phoneme, next phoneme after its last) in seconds, from espeak's events."""
    words = [(m.start() + 1, m.end() + 1, m.group()) for m in re.finditer(r"\S+", text)]  # 1-based chars
    starts_at = []
    for lo, hi, word in words:  # espeak may split a word (e.g. an acronym): its first event starts it
        inside = [e for e in events if e[0] == _EVENT_WORD and e[2] > 0 and lo <= e[1] < hi]
        if not inside:
            raise ValueError(f"espeak reported no word event for {word!r} in {text!r}")
        starts_at.append(min(inside, key=lambda e: e[3]))
    phonemes = sorted({(e[3], e[4].startswith(b"_")) for e in events if e[0] == _EVENT_PHONEME})
    times = [t for t, _ in phonemes]
    end_of_audio = max(e[3] for e in events)
    firsts = [next(t for t, pause in phonemes if t >= e[3] and not pause) for e in starts_at]
    spans = []
    for index, start in enumerate(firsts):
        limit = firsts[index + 1] if index + 1 < len(firsts) else end_of_audio + 1
        own = [t for t, pause in phonemes if start <= t < limit and not pause]
        # the word ends where the phoneme after its last own phoneme starts (next word or a pause)
        end = next((t for t in times if t > own[-1]), end_of_audio)
        spans.append((start, min(end, limit)))
    return [Word(w[2], s / sample_rate, e / sample_rate) for w, (s, e) in zip(words, spans, strict=True)]


# --- signal helpers --------------------------------------------------------------------------------


def frame_db(audio: np.ndarray, sample_rate: int, frame_s: float = 0.005) -> np.ndarray:
    """Energy in dBFS per non-overlapping frame."""
    n = max(int(sample_rate * frame_s), 1)
    usable = len(audio) // n * n
    frames = audio[:usable].reshape(-1, n).astype(np.float64)
    db: np.ndarray = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    return db


def trim_bounds(audio: np.ndarray, sample_rate: int, threshold_db: float = -50.0) -> tuple[int, int]:
    """First and last sample (exclusive) of the audible part, on 5 ms frames."""
    db = frame_db(audio, sample_rate)
    loud = np.flatnonzero(db > threshold_db)
    if loud.size == 0:
        raise ValueError("clip is silent")
    n = int(sample_rate * 0.005)
    return int(loud[0] * n), int(min((loud[-1] + 1) * n, len(audio)))


def resample(audio: np.ndarray, source_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    import torch
    import torchaudio.functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    out: np.ndarray = F.resample(tensor, source_rate, target_rate).numpy()
    return out


# --- the lecture --------------------------------------------------------------------------------------

RATES = (120, 145, 170, 195, 225)  # espeak-ng words per minute (its default is 175)


def _gap(rng: random.Random, index: int) -> float:
    """Pause before sentence `index`: mostly short, some medium, every ninth long (> 5 s)."""
    if index == 0:
        return 1.0
    if index % 9 == 4:
        return round(rng.uniform(5.5, 9.0), 3)
    if rng.random() < 0.25:
        return round(rng.uniform(1.0, 2.5), 3)
    return round(rng.uniform(0.15, 0.7), 3)


def build_lecture(seed: int = 7, noise_db: float = -60.0) -> tuple[np.ndarray, list[Sentence]]:
    """The whole synthetic lecture at 16 kHz and its sentences with exact timings."""
    rng = random.Random(seed)
    espeak = Espeak("he")
    pieces: list[np.ndarray] = []
    sentences: list[Sentence] = []
    cursor = 0.0
    for index, text in enumerate(SENTENCES):
        rate = rng.choice(RATES)
        raw, events = espeak.synthesize(text, rate)
        words = word_spans(text, events, espeak.sample_rate)
        first, last = trim_bounds(raw, espeak.sample_rate)
        clip = resample(raw[first:last], espeak.sample_rate)
        clip_s = len(clip) / SAMPLE_RATE
        offset = first / espeak.sample_rate
        gap = _gap(rng, index)
        pieces.append(np.zeros(round(gap * SAMPLE_RATE), np.float32))
        cursor += len(pieces[-1]) / SAMPLE_RATE
        placed = []
        for k, w in enumerate(words):
            start = min(max(w.start - offset, 0.0), clip_s) if k else 0.0
            end = clip_s if k == len(words) - 1 else min(max(w.end - offset, start), clip_s)
            placed.append(Word(w.word, round(cursor + start, 4), round(cursor + end, 4)))
        sentences.append(Sentence(text, rate, round(cursor, 4), round(cursor + clip_s, 4), placed))
        pieces.append(clip)
        cursor += clip_s
    pieces.append(np.zeros(SAMPLE_RATE, np.float32))
    audio = np.concatenate(pieces)
    sentences = [_end_at_voice(audio, s) for s in sentences]
    noise = np.random.default_rng(seed).normal(0.0, 10 ** (noise_db / 20), audio.shape).astype(np.float32)
    return audio + noise, sentences


def _end_at_voice(clean: np.ndarray, sentence: Sentence, hop: float = 0.005) -> Sentence:
    """A word before a pause ends where its voice stops: espeak's pause phoneme can start up to
    ~150 ms after the last audible frame (e.g. after a word-final silent he)."""
    db = frame_db(clean, SAMPLE_RATE, hop)
    words = list(sentence.words)
    for k in range(len(words) - 1):
        word, following = words[k], words[k + 1]
        if following.start - word.end < 0.08:
            continue
        lo, hi = int(word.start / hop), int(word.end / hop)
        audible = np.flatnonzero(db[lo:hi] > -50.0)
        if audible.size:
            words[k] = Word(word.word, word.start, round(max((lo + audible[-1] + 1) * hop, word.start), 4))
    return Sentence(sentence.text, sentence.rate, sentence.start, sentence.end, words)


def verify_edges(audio: np.ndarray, sentences: list[Sentence], tolerance: float = 0.03) -> dict[str, float]:
    """Check espeak's word times against the signal, independently of its events: around every pause
    inside a sentence, the word before must end where the energy falls and the word after must start
    where it rises again. Returns how many edges were checked and the worst disagreement (seconds)."""
    db = frame_db(audio, SAMPLE_RATE)
    loud = db > -45.0
    hop = 0.005
    checked, worst = 0, 0.0
    for sentence in sentences:
        for previous, word in zip(sentence.words, sentence.words[1:], strict=False):
            if word.start - previous.end < 0.08:
                continue  # no pause: no energy edge to check against
            middle = int((previous.end + word.start) / 2 / hop)
            if loud[middle]:
                raise AssertionError(f"no silence between {previous.word!r} and {word.word!r}")
            onset = middle + int(np.argmax(loud[middle:]))
            offset = middle - int(np.argmax(loud[middle::-1])) + 1
            worst = max(worst, abs(onset * hop - word.start), abs(offset * hop - previous.end))
            checked += 2
    if checked and worst > tolerance:
        raise AssertionError(f"espeak word edges disagree with the signal by up to {worst * 1000:.0f} ms")
    return {"checked": float(checked), "worst_s": float(worst)}


T = TypeVar("T")


def in_own_process(build: Callable[..., T], *args: Any) -> T:
    """Run `build(*args)` in a fresh interpreter. libespeak-ng keeps state from one synthesis to the
    next within a process, so a lecture built after another came out different (other samples, other
    word times): built alone, each set is the same whatever was generated before it."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(build, *args).result()


def save_set(audio: np.ndarray, truth: list[Any], audio_path: Path, truth_path: Path) -> None:
    """Both files or neither: written beside their names, then renamed (the truth last)."""
    audio_path.parent.mkdir(parents=True, exist_ok=True)
    partial = audio_path.with_name(audio_path.stem + ".partial.npy")
    np.save(partial, audio)
    partial.replace(audio_path)
    text = truth_path.with_name(truth_path.name + ".partial")
    text.write_text(json.dumps([asdict(s) for s in truth], ensure_ascii=False, indent=1))
    text.replace(truth_path)


def _build_lecture_into(seed: int, audio_path: Path, truth_path: Path) -> None:
    audio, sentences = build_lecture(seed)
    verify_edges(audio, sentences)
    save_set(audio, sentences, audio_path, truth_path)


def load_lecture(cache: Path, seed: int = 7) -> tuple[np.ndarray, list[Sentence]]:
    """Build once per (seed, sentences) into `cache` (in a process of its own), then reuse."""
    key = hashlib.sha256(json.dumps([seed, SENTENCES, RATES, "own process"]).encode()).hexdigest()[:12]
    audio_path, truth_path = cache / f"he_lecture_{key}.npy", cache / f"he_lecture_{key}.json"
    if not (audio_path.exists() and truth_path.exists()):
        in_own_process(_build_lecture_into, seed, audio_path, truth_path)
    truth = json.loads(truth_path.read_text())
    sentences = [Sentence(**{**s, "words": [Word(**w) for w in s["words"]]}) for s in truth]
    return np.load(audio_path), sentences

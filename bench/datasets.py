"""The benchmark's sets: audio, the text to align, and reference word times.

- `en_mfa_word_reference`: real spontaneous English (vendored in data/realdata, MIT, see its SOURCE.md);
  the two non-lexical reference tokens (`[adif]`, `<vocnoise>`) are dropped from text and scoring,
  leaving 186 words = 372 boundaries.
- `he_synthetic`: one long synthetic Hebrew lecture from espeak-ng (bench/hebrew.py), generated into
  the cache on first use.
- `lecture_*`: long synthetic lectures as real ones are (bench/lecture.py): LLM-style edits between
  speech and text, a music intro, an interruption, noise, reverberation, rate changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import hebrew, lecture
from worker.inputs.audio import load_audio

REPO = Path(__file__).resolve().parent.parent
MFA_DIR = REPO / "data" / "realdata" / "en_mfa_word_reference"
NON_LEXICAL = {"[adif]", "<vocnoise>"}


@dataclass(frozen=True)
class RefWord:
    word: str
    start: float
    end: float


@dataclass
class Clip:
    name: str
    audio: np.ndarray  # 16 kHz mono float32
    text: str  # what the aligner is given
    language: str
    words: list[RefWord]  # reference, one per word of `text`
    # (first, last) word index of each sentence, where sentence placement is exact (synthetic sets)
    sentences: list[tuple[int, int]] = field(default_factory=list)
    # per word of `text`: False where the text holds a word the speaker never said (scored apart)
    spoken: list[bool] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.audio) / hebrew.SAMPLE_RATE


@dataclass
class Dataset:
    name: str
    clips: list[Clip]

    @property
    def duration(self) -> float:
        return sum(c.duration for c in self.clips)


def load_mfa(root: Path = MFA_DIR) -> Dataset:
    manifest = json.loads((root / "manifest.json").read_text())
    clips = []
    for item in manifest["items"]:
        reference = json.loads((root / item["words_json"]).read_text())["words"]
        words = [
            RefWord(w["word"], float(w["start"]), float(w["end"]))
            for w in reference
            if w["word"] not in NON_LEXICAL
        ]
        text_words = [w for w in (root / item["transcript_file"]).read_text().split() if w not in NON_LEXICAL]
        if text_words != [w.word for w in words]:
            raise ValueError(f"{item['audio']}: transcript and reference words differ")
        audio = load_audio(root / item["audio"])
        clips.append(Clip(Path(item["audio"]).stem, audio, " ".join(text_words), "en", words))
    return Dataset("en_mfa_word_reference", clips)


def load_hebrew(cache: Path, seed: int = 7) -> Dataset:
    audio, sentences = hebrew.load_lecture(cache, seed)
    words: list[RefWord] = []
    spans = []
    for sentence in sentences:
        spans.append((len(words), len(words) + len(sentence.words) - 1))
        words.extend(RefWord(w.word, w.start, w.end) for w in sentence.words)
    text = " ".join(s.text for s in sentences)
    return Dataset("he_synthetic", [Clip("he_lecture", audio, text, "he", words, spans)])


def load_mfa_concatenated(root: Path = MFA_DIR) -> Dataset:
    """The three *_corpus recordings back to back (77 s, one speaker): real speech long enough for
    the windowed alignment (SOURCE.md suggests it as the longer multi-segment test)."""
    parts = [c for c in load_mfa(root).clips if c.name.endswith("corpus") or c.name.endswith("corpus3")]
    audio, words, offset = [], [], 0.0
    for clip in parts:
        audio.append(clip.audio)
        words += [RefWord(w.word, w.start + offset, w.end + offset) for w in clip.words]
        offset += clip.duration
    text = " ".join(c.text for c in parts)
    return Dataset(
        "en_mfa_concatenated", [Clip("mfa_concatenated", np.concatenate(audio), text, "en", words)]
    )


def load_lecture(name: str, cache: Path) -> Dataset:
    audio, sentences = lecture.load(lecture.CONDITIONS[name], cache)
    words: list[RefWord] = []
    spans: list[tuple[int, int]] = []
    spoken: list[bool] = []
    for sentence in sentences:
        spans.append((len(words), len(words) + len(sentence.words) - 1))
        words.extend(RefWord(w.word, w.start, w.end) for w in sentence.words)
        spoken.extend(w.spoken for w in sentence.words)
    text = " ".join(s.text for s in sentences)
    return Dataset(name, [Clip(name, audio, text, "he", words, spans, spoken)])


def load_set(name: str, cache: Path) -> Dataset:
    """A set by its short name (see SETS); the synthetic ones are generated into `cache`."""
    if name == "he":
        return load_hebrew(cache)
    if name in lecture.CONDITIONS:
        return load_lecture(name, cache)
    return {"en": load_mfa, "en_concat": load_mfa_concatenated}[name]()


SETS = ("en", "en_concat", "he", *lecture.CONDITIONS)

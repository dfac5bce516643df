"""The review verdict: right pairs are `ok`, wrong pairs are not, and a `failed` job publishes nothing.

The first tests build alignments by hand, each showing one signal; the real-model tests align short
real English recordings with their own text and with wrong text (bench/verdict.py measures the same
on longer right and wrong pairs, Hebrew included).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REALDATA, Cloud
from tests.speech import Speech
from tests.worker.test_queue_worker import fail_once
from worker.engine.alignment import Aligner, Alignment, AlignmentOptions, SuspiciousRange
from worker.engine.evidence import Probe
from worker.engine.fidelity import Repairs, TimedWord
from worker.inputs.audio import ffmpeg
from worker.publish.verdict import _SpeechMap, judge

SPEECH = REALDATA / "en_transcript_only"
HEBREW = (
    "שלום לכולם, אנחנו ממשיכים היום בלימוד הדף היומי במסכת ברכות. המשנה שואלת מאימתי קורין את שמע בערבית."
)


def spoken(count: int, gap: float = 0.1, length: float = 0.3, start: float = 0.5) -> list[TimedWord]:
    words, t = [], start
    for index in range(count):
        words.append(TimedWord(f"word{index}", t, t + length, 0.5))
        t += length + gap
    return words


def alignment(
    words: list[TimedWord],
    duration: float,
    speech: tuple[tuple[float, float], ...] | None,
    probes: tuple[Probe, ...] = (),
    suspicious: tuple[SuspiciousRange, ...] = (),
) -> Alignment:
    return Alignment(
        words,
        frozenset(),
        duration,
        "en",
        Repairs(0, 0, 0),
        len(words),
        1.0,
        "test",
        suspicious,
        speech,
        probes,
    )


def test_words_over_speech_are_ok() -> None:
    words = spoken(40)
    result = judge(alignment(words, words[-1].end + 1, ((0.4, words[-1].end + 0.1),)))
    assert (result.verdict, result.reasons, result.suspicious) == ("ok", [], [])


def test_words_where_no_speech_is_heard_fail() -> None:
    words = spoken(40)
    result = judge(alignment(words, words[-1].end + 1, ()))  # the VAD heard nothing (music, tone)
    assert result.verdict == "failed"
    assert "100% of the words lie where no speech is heard" in result.reasons
    assert result.suspicious[0].reason == "40 words where no speech is heard"


def test_speech_without_words_needs_review_and_is_located() -> None:
    words = spoken(40)  # 0.5 .. 16.4 s; the speaker goes on to 40 s: half the text is missing
    result = judge(alignment(words, 41.0, ((0.4, 40.0),)))
    assert result.verdict == "needs_review"
    (gap,) = result.suspicious
    assert gap.reason.endswith("s of speech with no words")
    assert gap.start == pytest.approx(words[-1].end + 0.3) and gap.end == 40.0
    assert gap.first_word == gap.end_word == 40


def test_words_squeezed_into_the_tail_are_implausible() -> None:
    words = spoken(30) + spoken(20, gap=0.0, length=0.01, start=12.5)
    result = judge(alignment(words, 12.8, ((0.4, 12.8),)))
    assert result.verdict != "ok"
    reasons = [s.reason for s in result.suspicious]
    assert "21 words squeezed into the last second" in reasons  # 20 + the last one spoken there
    assert any("chars/s" in r for r in reasons)


def test_unspoken_words_and_engine_ranges_are_reported() -> None:
    words = spoken(40)
    words[10:12] = [TimedWord(w.word, w.start, w.end, 0.0, spoken=False) for w in words[10:12]]
    engine = SuspiciousRange(words[20].start, words[25].end, 20, 26, "window failed to align")
    result = judge(alignment(words, words[-1].end + 1, ((0.4, words[-1].end + 0.1),), suspicious=(engine,)))
    reasons = {(s.first_word, s.end_word): s.reason for s in result.suspicious}
    assert reasons[(10, 12)] == "2 word(s) not heard: never said, or placed by interpolation"
    assert reasons[(20, 26)] == "window failed to align"
    assert result.verdict == "needs_review"  # 5 % of the words unheard


def test_a_word_never_said_is_unheard_not_implausibly_fast() -> None:
    words = spoken(40, gap=0.0)
    point = words[19].end  # an editor's word, found unsaid: a point where its neighbours meet
    words.insert(20, TimedWord("also", point, point, 0.0, spoken=False))
    result = judge(alignment(words, words[-1].end + 1, ((0.4, words[-1].end + 0.1),)))
    reasons = {(s.first_word, s.end_word): s.reason for s in result.suspicious}
    assert reasons == {(20, 21): "1 word(s) not heard: never said, or placed by interpolation"}
    assert result.signals["implausible_words"] == 0
    assert result.verdict == "ok"  # one word in 41


def test_a_sentence_boundary_in_unbroken_speech_is_located_but_decides_nothing() -> None:
    """Speakers pause between sentences: a sentence end the engine put where the VAD hears no pause
    is pointed at (it is often words off); one at a pause is not, nor is a comma in speech."""
    words = spoken(20)  # word i: 0.5 + 0.4 i .. + 0.3
    for i, mark in ((4, "."), (9, ","), (14, "?")):
        words[i] = TimedWord(words[i].word + mark, words[i].start, words[i].end, 0.5)
    speech = ((0.4, 2.38), (2.52, words[-1].end + 0.1))  # a pause between word 4 and word 5 only
    result = judge(alignment(words, words[-1].end + 1, speech))
    assert [(s.first_word, s.end_word, s.reason) for s in result.suspicious] == [
        (14, 16, "sentence boundary where no pause is heard: may be words off")
    ]
    assert (result.verdict, result.signals["sentence_ends_without_pause"]) == ("ok", 1)


def test_text_match_probes_decide_when_the_text_is_not_recognised() -> None:
    words = spoken(40)
    speech = ((0.4, words[-1].end + 0.1),)
    won = Probe(0.5, 4.0, 0, 10, own=0.4, other=0.05)
    lost = Probe(0.5, 4.0, 0, 10, own=0.05, other=0.05)
    assert judge(alignment(words, 20, speech, (won,) * 8)).verdict == "ok"
    assert judge(alignment(words, 20, speech, (won,) * 3 + (lost,) * 5)).verdict == "needs_review"
    failed = judge(alignment(words, 20, speech, (won,) + (lost,) * 7))
    assert failed.verdict == "failed"
    assert failed.reasons == ["the text matches the speech in only 12% of the probed windows"]
    assert [s.reason for s in failed.suspicious] == ["text not recognised in the speech here"]


# --- real speech, real Whisper base ---------------------------------------------------------------


def aligned(aligner: Aligner, audio: Path | np.ndarray, text: str, language: str = "en") -> Alignment:
    return aligner.align(audio, text, AlignmentOptions(language=language))


def test_a_right_pair_is_ok(aligner: Aligner) -> None:
    result = judge(aligned(aligner, SPEECH / "jfk.flac", (SPEECH / "jfk.txt").read_text()))
    assert result.verdict == "ok", result


def test_another_recordings_text_is_not_ok(aligner: Aligner) -> None:
    text = (SPEECH / "61-70968-0000.txt").read_text()
    result = judge(aligned(aligner, SPEECH / "jfk.flac", text))
    assert result.verdict != "ok", result


def test_hebrew_text_on_english_speech_is_not_ok(aligner: Aligner) -> None:
    result = judge(aligned(aligner, SPEECH / "jfk.flac", HEBREW, "he"))
    assert result.verdict != "ok", result


def test_a_tone_with_a_text_fails(aligner: Aligner) -> None:
    t = np.arange(12 * 16_000) / 16_000
    tone = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    result = judge(aligned(aligner, tone, (SPEECH / "jfk.txt").read_text()))
    assert result.verdict == "failed", result


def test_the_test_lecture_is_ok(aligner: Aligner, hebrew_lecture: Speech) -> None:
    """The Hebrew lecture every worker test publishes must not be held back by its verdict."""
    result = judge(aligned(aligner, hebrew_lecture.wav, hebrew_lecture.text, "he"))
    assert result.verdict == "ok", result


def test_a_failed_verdict_publishes_nothing(cloud: Cloud, aligner: Aligner, tmp_path: Path) -> None:
    """A lecture's text on 12 s of a tone: a permanent failure naming why, nothing published, and
    the notice still carries the verdict and its suspicious ranges."""
    mp3 = tmp_path / "tone.mp3"
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=12"]
    subprocess.run([ffmpeg(), "-nostdin", "-loglevel", "error", *tone, str(mp3)], check=True)
    cloud.put(cloud.audio_bucket, "berakhot/2a.mp3", mp3.read_bytes())
    cloud.put(cloud.text_bucket, "berakhot/2a.txt", (SPEECH / "jfk.txt").read_text())
    notice = fail_once(cloud, aligner, {"audio_key": "berakhot/2a.mp3", "text_key": "berakhot/2a.txt"})
    assert notice["error"].startswith("review verdict failed: "), notice["error"]
    assert "where no speech is heard" in notice["error"]
    assert notice["quality"]["verdict"] == "failed"
    assert notice["quality"]["suspicious"]


def test_speech_seconds_per_span_match_a_direct_sum_over_the_speech_map() -> None:
    """The running total the verdict reads speech from (linear in the lecture) gives the same
    seconds as summing every span's overlap, including exact zeros where a word hears no speech."""
    rng = np.random.default_rng(3)
    edges = np.cumsum(rng.uniform(0.05, 4.0, 400))
    spans = [(float(a), float(b)) for a, b in zip(edges[0::2], edges[1::2], strict=False)]
    starts = rng.uniform(-5.0, edges[-1] + 5.0, 2000)
    ends = starts + rng.uniform(-0.2, 6.0, 2000)
    got = _SpeechMap(spans).overlap(list(starts), list(ends))
    want = [
        sum(max(0.0, min(e, hi) - max(s, lo)) for s, e in spans) for lo, hi in zip(starts, ends, strict=True)
    ]
    assert np.allclose(got, want, atol=1e-9)
    assert [g == 0 for g in got] == [w == 0 for w in want]
    assert sum(w == 0 for w in want) > 100  # the words in pauses: the zeros are tested

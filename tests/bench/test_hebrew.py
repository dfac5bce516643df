"""Synthetic Hebrew ground truth: word spans from espeak events, energy checks, placement."""

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import hebrew, lecture
from bench.hebrew import Sentence, Word, frame_db, trim_bounds, verify_edges, word_spans
from tests.speech import synthesize

WORD, PHONEME = 1, 7


def test_word_spans_run_from_first_phoneme_to_the_next_phoneme() -> None:
    text = "אמר רבא, הלכה"  # 1-based character positions: 1, 5, 10
    events = [
        (WORD, 1, 3, 0, b""), (PHONEME, 1, 0, 100, b"?"), (PHONEME, 1, 0, 200, b"m"),
        (WORD, 5, 4, 400, b""), (PHONEME, 5, 0, 410, b"r"), (PHONEME, 5, 0, 500, b"v"),
        (PHONEME, 9, 0, 700, b"_:"),  # comma pause
        (WORD, 10, 4, 900, b""), (PHONEME, 10, 0, 900, b"h"), (PHONEME, 10, 0, 1000, b"l"),
        (PHONEME, 14, 0, 1200, b"_"),
    ]  # fmt: skip
    spans = word_spans(text, events, sample_rate=1000)
    assert [(w.word, w.start, w.end) for w in spans] == [
        ("אמר", 0.1, 0.41),
        ("רבא,", 0.41, 0.7),
        ("הלכה", 0.9, 1.2),
    ]


def test_a_word_espeak_splits_in_two_keeps_its_first_start() -> None:
    events = [
        (WORD, 1, 2, 0, b""), (PHONEME, 1, 0, 10, b"r"),
        (WORD, 3, 2, 50, b""), (PHONEME, 3, 0, 60, b"S"),  # the second half of the acronym
        (WORD, 6, 3, 100, b""), (PHONEME, 6, 0, 100, b"m"), (PHONEME, 8, 0, 150, b"_"),
    ]  # fmt: skip
    spans = word_spans("רש״י אמר", events, sample_rate=1000)
    assert [(w.start, w.end) for w in spans] == [(0.01, 0.1), (0.1, 0.15)]


def test_trim_and_edges_follow_the_energy() -> None:
    rate = 16_000
    audio = np.zeros(rate, np.float32)
    audio[4000:8000] = 0.3 * np.sin(np.arange(4000) * 0.3)
    audio[12000:14000] = 0.3 * np.sin(np.arange(2000) * 0.3)
    first, last = trim_bounds(audio, rate)
    assert abs(first - 4000) <= 80 and abs(last - 14000) <= 80
    assert frame_db(audio, rate).max() > -20
    sentence = Sentence("a b", 175, 0.25, 0.875, [Word("a", 0.25, 0.5), Word("b", 0.75, 0.875)])
    assert verify_edges(audio, [sentence])["checked"] == 2
    wrong = Sentence("a b", 175, 0.25, 0.875, [Word("a", 0.25, 0.4), Word("b", 0.75, 0.875)])
    with pytest.raises(AssertionError):
        verify_edges(audio, [wrong])


def test_pauses_are_mostly_short_with_some_over_five_seconds() -> None:
    import random

    rng = random.Random(7)
    gaps = [hebrew._gap(rng, i) for i in range(len(hebrew.SENTENCES))]
    assert sum(g > 5 for g in gaps) >= 5
    assert sum(g < 1 for g in gaps) > len(gaps) / 2


def test_a_synthesised_sentence_has_one_span_per_word() -> None:
    espeak = hebrew.Espeak("he")
    text = hebrew.SENTENCES[9]  # contains an acronym with gershayim
    audio, events = espeak.synthesize(text, 175)
    spans = word_spans(text, events, espeak.sample_rate)
    assert [w.word for w in spans] == text.split()
    assert all(a.end <= b.start + 1e-9 for a, b in itertools.pairwise(spans))
    assert 0 <= spans[0].start < spans[-1].end <= len(audio) / espeak.sample_rate + 1e-9


def test_an_instance_still_speaks_after_another_was_made_and_freed() -> None:
    """libespeak-ng keeps one callback for the process: a freed instance's must never be called
    (it was: a segfault in the next test that spoke). In a child process, so a crash fails here."""
    script = (
        "import gc\n"
        "from bench.hebrew import Espeak\n"
        "first = Espeak('he')\n"
        "first.synthesize('שלום', 175)\n"
        "second = Espeak('he')\n"
        "second.synthesize('שלום', 175)\n"
        "del second\n"
        "gc.collect()\n"
        "samples, _ = first.synthesize('שלום עולם', 175)\n"
        "assert len(samples) > 0\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_lecture_is_the_same_whatever_was_generated_before_it(tmp_path: Path) -> None:
    """libespeak-ng carries state between syntheses in one process: built in the same process, a
    second build of this condition came out other samples long. Each build runs in its own (and
    leaves this process's espeak alone: other tests' speech would change)."""
    condition = lecture.Condition("tiny", minutes=0.4, seed=5, intro_seconds=1.0, tone_seconds=0.0)
    first, truth = lecture.load(condition, tmp_path / "a")
    second, again = lecture.load(condition, tmp_path / "b")
    assert np.array_equal(first, second)
    assert truth == again


def test_test_speech_is_the_same_whatever_this_process_spoke_before(tmp_path: Path) -> None:
    """The tests' speech (tests/speech.py) is spoken in a process of its own: a test whose verdict
    rests on the exact audio must not depend on which tests ran (and spoke) before it."""
    lines = ["המשנה שואלת מאימתי קורין את שמע בערבית.", "משעה שהכוהנים נכנסים לאכול בתרומתן."]
    before = synthesize(lines, tmp_path / "before.wav", pauses=[0.5], rates=[160])
    hebrew.Espeak("he").synthesize(hebrew.SENTENCES[3], 210)  # this process speaks in between
    after = synthesize(lines, tmp_path / "after.wav", pauses=[0.5], rates=[160])
    assert before.wav.read_bytes()[44:] == after.wav.read_bytes()[44:]
    assert before.sentences == after.sentences

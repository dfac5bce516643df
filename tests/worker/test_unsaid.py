"""Words in the text that the speaker never said: found on real speech, marked, shrunk to a point."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from worker.engine.alignment import Aligner, AlignmentOptions
from worker.engine.fidelity import TimedWord
from worker.engine.unsaid import MIN_HEARD, mark_unsaid
from worker.inputs.audio import load_audio
from worker.settings import Settings

SONNETS = Path(__file__).resolve().parents[2] / "data" / "realdata" / "en_librivox_sonnets"
# Words an editor might add, each far from the others (real read speech, LibriVox).
EDITS = {"His tender heir": "His just tender heir", "Making a famine": "Making a so famine",
         "the world's due": "the world's also due"}  # fmt: skip


@pytest.fixture(scope="module")
def sonnet() -> tuple[np.ndarray, str]:
    return load_audio(SONNETS / "sonnet001.mp3"), (SONNETS / "sonnet001.txt").read_text()


def test_words_never_said_are_marked_and_shrunk_to_a_point(
    aligner: Aligner, sonnet: tuple[np.ndarray, str]
) -> None:
    audio, text = sonnet
    for said, edited in EDITS.items():
        text = text.replace(said, edited)
    words = aligner.align(audio, text, AlignmentOptions(language="en")).words

    assert [w.word for w in words] == text.split()  # the text word for word, unsaid words included
    marked = [i for i, w in enumerate(words) if not w.spoken]
    assert [words[i].word for i in marked] == ["just", "so", "also"]
    for i in marked:
        before, word, after = words[i - 1], words[i], words[i + 1]
        assert word.start == word.end  # a point …
        assert before.end <= word.start <= after.start  # … where its neighbours meet
        assert before.end - before.start > 0.05 and after.end - after.start > 0.05
    assert all(a.start <= b.start for a, b in itertools.pairwise(words))


def test_the_said_text_gets_no_mark(aligner: Aligner, sonnet: tuple[np.ndarray, str]) -> None:
    audio, text = sonnet
    assert all(w.spoken for w in aligner.align(audio, text, AlignmentOptions(language="en")).words)


def test_a_recording_the_model_hears_poorly_is_not_checked() -> None:
    def align_words(*_: object) -> None:
        raise AssertionError("the check ran on a recording the model hears poorly")

    words = [TimedWord(f"w{i}", i, i + 0.5, MIN_HEARD / 2) for i in range(40)]
    assert mark_unsaid(align_words, np.zeros(16_000 * 40, np.float32), words, "he") == words


def test_an_engine_failure_leaves_the_words_unmarked(sonnet: tuple[np.ndarray, str]) -> None:
    def align_words(*_: object) -> None:
        raise RuntimeError("CUDA out of memory")

    audio, text = sonnet
    words = [TimedWord(w, i * 0.4, i * 0.4 + 0.3, 0.9) for i, w in enumerate(text.split())]
    words[5] = TimedWord(words[5].word, words[5].start, words[5].end, 0.001)  # a candidate
    assert mark_unsaid(align_words, audio, words, "en") == words


def test_the_check_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNSAID_CHECK", raising=False)
    assert AlignmentOptions.from_settings(Settings()).unsaid_check is True
    monkeypatch.setenv("UNSAID_CHECK", "false")
    assert AlignmentOptions.from_settings(Settings()).unsaid_check is False

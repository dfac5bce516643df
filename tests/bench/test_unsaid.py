"""bench.unsaid's pieces: where words are inserted, and how marks and points are scored."""

from __future__ import annotations

import random

from bench.datasets import RefWord
from bench.unsaid import INSERTED, Tally, score, with_insertions
from worker.engine.fidelity import TimedWord


def test_insertions_never_open_the_text_nor_follow_a_sentence_end() -> None:
    words = ["One", "two", "three.", "Four", "five", "six?", "Seven", "eight", "nine!"]
    for seed in range(50):
        out, said = with_insertions(words, 0.5, random.Random(seed))
        assert [w for w, s in zip(out, said, strict=True) if s] == words
        assert said[0]
        for i, s in enumerate(said):
            if not s:
                assert out[i] in INSERTED and not out[i - 1].endswith((".", "?", "!"))
    assert with_insertions(words, 0.0, random.Random(1)) == (words, [True] * len(words))


def test_marks_and_points_are_scored_against_the_reference() -> None:
    reference = [RefWord("a", 0.0, 0.5), RefWord("b", 0.6, 1.0), RefWord("c", 1.2, 1.6)]
    said = [True, False, True, True]
    words = [
        TimedWord("a", 0.0, 0.52, 0.9),
        TimedWord("the", 0.55, 0.55, 0.0, spoken=False),  # a point in the gap 0.5–0.6
        TimedWord("b", 0.58, 1.0, 0.9),
        TimedWord("c", 1.0, 1.6, 0.0, spoken=False),  # said, wrongly marked
    ]
    tally = Tally()
    score(tally, words, said, reference)
    assert (tally.inserted, tally.caught, tally.said, tally.wrongly) == (1, 1, 3, 1)
    assert tally.point_off == [0.0]
    assert [round(e, 2) for e in tally.edges_off] == [0.02, 0.02]

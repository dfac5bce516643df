"""The benchmark's scoring: boundary errors, shares within thresholds, word F1, text fidelity."""

import math

import numpy as np
import pytest

from bench.datasets import RefWord
from bench.metrics import Fidelity, boundary_errors, fidelity, score, sentence_end_flags, sentence_errors


def words(*spans: tuple[str, float, float]) -> list[RefWord]:
    return [RefWord(w, s, e) for w, s, e in spans]


REFERENCE = words(("a", 0.0, 0.5), ("b", 0.5, 1.0), ("c", 1.2, 2.0))


def test_boundary_errors_are_signed_per_start_and_end() -> None:
    output = words(("a", 0.01, 0.45), ("b", 0.45, 1.1), ("c", 1.2, 2.3))
    assert boundary_errors(REFERENCE, output) == pytest.approx([0.01, -0.05, -0.05, 0.1, 0.0, 0.3])


def test_a_lost_word_counts_as_missing_boundaries() -> None:
    output = words(("a", 0.0, 0.5), ("c", 1.2, 2.0))
    errors = boundary_errors(REFERENCE, output)
    assert np.isnan(errors[2:4]).all() and not np.isnan(errors[[0, 1, 4, 5]]).any()
    s = score(errors, fidelity(["a", "b", "c"], ["a", "c"]), 0, 2.0, 1.0)
    assert s.within[200] == pytest.approx(4 / 6)
    assert s.f1[100] == pytest.approx(2 / 3)
    assert s.fidelity == Fidelity(dropped=1)


def test_score_shares_median_mean_f1_and_rtf() -> None:
    signed = np.array([0.01, -0.03, 0.06, 0.15, -0.5, 0.0])  # 3 words
    s = score(signed, Fidelity(), 0, audio_s=10.0, wall_s=2.0)
    assert s.boundaries == 6
    assert s.within == pytest.approx({20: 2 / 6, 50: 3 / 6, 100: 4 / 6, 200: 5 / 6})
    assert s.median_ms == pytest.approx(45.0)
    assert s.mean_ms == pytest.approx(1000 * np.mean(np.abs(signed)))
    # word 0: worst edge 30 ms; word 1: 150 ms; word 2: 500 ms
    assert s.f1 == pytest.approx({100: 1 / 3, 200: 2 / 3})
    assert s.rtf == pytest.approx(0.2)
    assert math.isnan(s.sentence_max_s)


def test_fidelity_counts_insertions_drops_and_changes() -> None:
    assert fidelity(["a", "b", "c"], ["a", "b", "c"]).total == 0
    assert fidelity(["a", "b", "c"], ["a", "x", "b", "c"]) == Fidelity(inserted=1)
    assert fidelity(["a", "b", "c"], ["a", "c"]) == Fidelity(dropped=1)
    assert fidelity(["a", "b", "c"], ["a", "B", "c"]) == Fidelity(changed=1)


def test_sentence_errors_use_first_start_and_last_end() -> None:
    output = words(("a", 0.2, 0.5), ("b", 0.5, 1.0), ("c", 1.2, 2.9))
    errors = sentence_errors(REFERENCE, output, [(0, 1), (2, 2)])
    assert errors == pytest.approx([0.2, 0.0, 0.0, 0.9])
    s = score(boundary_errors(REFERENCE, output), Fidelity(), 0, 3.0, 1.0, errors)
    assert (s.sentence_boundaries, s.sentences_over_half_s, s.sentence_max_s) == (4, 1, pytest.approx(0.9))


def test_sentence_end_flags_score_the_reviews_flags_against_the_truth() -> None:
    """Three sentences, two ends between them: the first end is 0.7 s off (its next sentence starts
    late), the second is right; a flag on each is one right flag and one false one."""
    reference = words(("a.", 0.0, 0.5), ("b", 1.0, 1.5), ("c.", 1.5, 2.0), ("d", 2.5, 3.0))
    output = words(("a.", 0.0, 0.5), ("b", 1.7, 1.8), ("c.", 1.8, 2.0), ("d", 2.5, 3.0))
    sentences = [(0, 0), (1, 2), (3, 3)]
    assert sentence_end_flags(reference, output, sentences, {0, 2}) == (2, 2, 1, 1)
    assert sentence_end_flags(reference, output, sentences, {2}) == (2, 1, 0, 1)
    assert sentence_end_flags(reference, output, sentences, set()) == (2, 0, 0, 1)

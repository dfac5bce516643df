"""The VAD runs long audio in bounded batches of rows and finds the pauses between sentences."""

from __future__ import annotations

import numpy as np

from bench.hebrew import Espeak, resample, trim_bounds
from worker.engine.vad import FRAME, SAMPLE_RATE, pauses, speech_probability


def _speech_with_gaps() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """~66 s (three 30 s VAD rows): a spoken sentence, then 2 s of silence, repeated."""
    espeak = Espeak("he")
    raw, _ = espeak.synthesize("המשנה שואלת מאימתי קורין את שמע בערבית.", 175)
    first, last = trim_bounds(raw, espeak.sample_rate)
    clip = resample(raw[first:last], espeak.sample_rate)
    gap = np.zeros(2 * SAMPLE_RATE, np.float32)
    pieces, gaps, cursor = [], [], 0.0
    while cursor < 64:
        pieces += [clip, gap]
        cursor += len(clip) / SAMPLE_RATE
        gaps.append((cursor, cursor + 2.0))
        cursor += 2.0
    audio = np.concatenate(pieces)
    noise = np.random.default_rng(0).normal(0, 1e-3, audio.shape).astype(np.float32)
    return audio + noise, gaps


def test_rows_in_small_batches_give_the_same_probabilities_and_pauses() -> None:
    audio, gaps = _speech_with_gaps()
    whole = speech_probability(audio)
    one_row_at_a_time = speech_probability(audio, rows_per_batch=1)
    assert len(whole) == len(audio) // FRAME
    np.testing.assert_allclose(one_row_at_a_time, whole, atol=1e-5)
    found = pauses(whole)
    for start, end in gaps[:-1]:  # every silence between two sentences is a pause, at its place
        assert any(abs(p.start - start) < 0.3 and abs(p.end - end) < 0.3 for p in found), (start, found)

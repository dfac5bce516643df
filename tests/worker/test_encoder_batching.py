"""Windows encoded in batches (worker.engine.batching) align as they do one at a time, in fewer calls.

Real Whisper base (CTranslate2, CPU) and real Hebrew speech; the batching is what a GPU node uses by
default (ENCODER_BATCH), forced on here since a CPU defaults to one window per call.
"""

from __future__ import annotations

from pathlib import Path
from types import MethodType
from typing import Any

import numpy as np
import pytest

from tests.speech import Speech
from worker.engine.batching import WindowEncoder, default_batch, encoder_outputs_kept
from worker.engine.models import load_model, resolve_model
from worker.inputs.audio import SAMPLE_RATE, load_audio
from worker.settings import Backend, Device

Window = tuple[np.ndarray, list[str]]


def _align(model: Any, window: Window) -> list[tuple[str, float, float]]:
    piece, words = window
    segment = [{"start": 0.0, "end": len(piece) / SAMPLE_RATE, "text": " ".join(words)}]
    result = model.align_words(piece, segment, "he", verbose=None)
    return [(w.word.strip(), float(w.start), float(w.end)) for s in result.segments for w in s.words]


@pytest.fixture(scope="module")
def windows(hebrew_lecture: Speech) -> list[Window]:
    """Six sentences as the anchored windows of a lecture: the sentence plus 0.25 s either side."""
    audio = load_audio(hebrew_lecture.wav)
    out = []
    for sentence in hebrew_lecture.sentences[:6]:
        lo, hi = max(sentence.start - 0.25, 0.0), sentence.end + 0.25
        out.append((audio[int(lo * SAMPLE_RATE) : int(hi * SAMPLE_RATE)], sentence.text.split()))
    return out


@pytest.fixture
def model(whisper_cache: Path) -> Any:
    """Whisper base on the CPU, loaded per test: each test wraps its `encode` its own way."""
    return load_model(
        resolve_model("base", Backend.FASTER_WHISPER, whisper_cache),
        Backend.FASTER_WHISPER,
        Device.CPU,
        "int8",
    )


def test_batched_windows_align_like_single_ones_in_fewer_encoder_calls(
    model: Any, windows: list[Window]
) -> None:
    alone = [_align(model, w) for w in windows]

    encoder = WindowEncoder(model, batch=3)
    encoder.plan([piece for piece, _ in windows])
    batched = [_align(model, w) for w in windows]

    assert (encoder.calls, encoder.served, encoder.missed) == (2, 6, 0)
    lengths = [len(piece) for piece, _ in windows]
    longest = {max(sorted(lengths)[:3]), max(sorted(lengths)[3:])}  # one per batch: no padding
    diffs = []
    for length, one, many in zip(lengths, alone, batched, strict=True):
        assert [w for w, _, _ in many] == [w for w, _, _ in one]  # the text, word for word
        if length in longest:
            assert many == one  # unpadded rows: the same encoder output, the same timings
        assert all(0 <= s <= e <= length / SAMPLE_RATE + 1e-6 for _, s, e in many)
        diffs += [abs(a[1] - b[1]) for a, b in zip(one, many, strict=True)]
    assert float(np.median(diffs)) <= 0.1  # padding with silence moves little

    # A window nobody planned (or a long one aligned by `align()`) is encoded alone, unchanged.
    encoder.finish()
    assert _align(model, windows[0]) == alone[0]
    assert encoder.missed == 1


def test_one_window_aligned_with_two_texts_is_encoded_once_with_the_same_result(
    model: Any, windows: list[Window]
) -> None:
    """The unsaid-word check's two passes (the text with and without a word) over the same audio."""
    piece, words = windows[1]
    shorter = (piece, words[:2] + words[3:])
    calls: list[int] = []
    plain = model.encode
    model.encode = MethodType(lambda _model, features: calls.append(1) or plain(features), model)
    apart = [_align(model, (piece, words)), _align(model, shorter)]
    assert len(calls) == 2
    with encoder_outputs_kept(model):
        together = [_align(model, (piece, words)), _align(model, shorter)]
    assert len(calls) == 3  # one more: the second text found the audio encoded
    assert together == apart
    _align(model, shorter)
    assert len(calls) == 4  # the block's memory is gone with it


def test_batches_only_pay_off_on_a_gpu() -> None:
    assert default_batch("cuda") > 1
    assert default_batch("cpu") == 1

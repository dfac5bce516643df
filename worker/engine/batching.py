"""Encoding the anchored windows in batches, under stable-ts's one-window-at-a-time calls.

stable-ts aligns a window by computing its log-mel features, calling the model's `encode` on them,
then running the decoder's cross-attention alignment: one encoder call per window, ~870 for an hour.
On a GPU a few-second window cannot fill the device, so the worker encodes the coming windows
together: their features, padded with Whisper's own silence value to the longest of the group, go
through the encoder in one call, and `encode` (bound on the instance, the way stable-ts itself
extends faster-whisper) hands each window its row when stable-ts asks for it. The alignment still
reads only the window's own frames (CTranslate2's `align` is given the unpadded frame count), as
with Whisper's usual padding to 30 s. A window the batches did not foresee is encoded alone.

On a CPU batching is slower (16 windows of 4 s, measured on 2 cores: 0.74 CPU s one by one,
1.06 s in one batch), so the default is one window per call there (`ENCODER_BATCH`, settings).
Only the faster-whisper (CTranslate2) backend is batched; the openai backend encodes inside stable-ts.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator, Sequence
from types import MethodType
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

LOOKAHEAD_BATCHES = 4  # windows are grouped by length within this many batches' worth of windows
SILENCE_BELOW_MAX = 2.0  # Whisper's log-mel: silence sits 8 log10 units (÷4) below the loudest bin


def _key(features: np.ndarray) -> bytes:
    return hashlib.blake2b(
        np.ascontiguousarray(features, dtype=np.float32).tobytes(), digest_size=16
    ).digest()


class WindowEncoder:
    """Batched encoder outputs for the windows about to be aligned, served through `model.encode`."""

    def __init__(self, model: Any, batch: int) -> None:
        self._model = model
        self.batch = batch
        self._plain_encode = model.encode
        self._pending: list[np.ndarray] = []
        self._next: dict[bytes, np.ndarray] | None = None  # the next group's features, not yet encoded
        self._ready: dict[bytes, tuple[Any, Any]] = {}  # key → (StorageView, the array it views)
        self._serving: Any = None  # keeps the last handed-out row's memory alive while stable-ts reads it
        self.calls = 0  # encoder calls made for batches
        self.served = 0  # windows answered from a batch
        self.missed = 0  # windows encoded alone
        model.encode = MethodType(lambda _model, features: self.encode(features), model)

    def plan(self, pieces: Sequence[np.ndarray]) -> None:
        """The windows' audio, in the order stable-ts will align them."""
        self.finish()
        self._pending = list(pieces)[::-1]  # popped from the end

    def finish(self) -> None:
        self._pending, self._next, self._serving = [], None, None
        self._ready.clear()

    def encode(self, features: np.ndarray) -> Any:
        key = _key(features)
        if key not in self._ready:
            self._encode_next_group_if_it_holds(key)
        if key in self._ready:
            view, self._serving = self._ready.pop(key)
            self.served += 1
            return view
        self.missed += 1  # e.g. a long window aligned by `align()`, which encodes 30 s chunks itself
        return self._plain_encode(features)

    def _encode_next_group_if_it_holds(self, key: bytes) -> None:
        if self._next is None and self._pending:
            extractor = self._model.feature_extractor
            count = min(len(self._pending), self.batch * LOOKAHEAD_BATCHES)
            group = [self._pending.pop() for _ in range(count)]
            feats = [extractor(piece)[:, : extractor.nb_max_frames] for piece in group]
            self._next = {_key(f): f for f in feats}
        if self._next is None or key not in self._next:
            return
        self._ready.clear()  # rows of windows stable-ts skipped (no words): never asked for again
        feats = sorted(self._next.values(), key=lambda f: f.shape[1])  # similar lengths: little padding
        self._next = None
        for first in range(0, len(feats), self.batch):
            chunk = feats[first : first + self.batch]
            frames = chunk[-1].shape[1]
            stacked = np.stack(
                [
                    np.pad(f, ((0, 0), (0, frames - f.shape[1])), constant_values=f.max() - SILENCE_BELOW_MAX)
                    for f in chunk
                ]
            ).astype(np.float32)
            output = self._plain_encode(stacked)
            self.calls += 1
            for row, f in zip(_rows(output), chunk, strict=True):
                self._ready[_key(f)] = row


@contextlib.contextmanager
def encoder_outputs_kept(model: Any) -> Iterator[None]:
    """Within the block, `model.encode` answers features it has already encoded from memory.

    The unsaid-word check aligns the same laid-out audio twice (with and without each candidate)
    and the text-match probes align each sampled window with several texts: stable-ts cuts the
    same audio into the same chunks each time, so the encoder's output is the same too. Only for
    outputs that own their memory (the plain encoder's; not a `WindowEncoder`'s batch rows, whose
    plan is finished before these checks run). ~3 MB per 30 s chunk of Whisper base, for the block."""
    had_own = "encode" in vars(model)
    encode = model.encode
    kept: dict[bytes, Any] = {}

    def remembered(_model: Any, features: np.ndarray) -> Any:
        key = _key(features)
        if key not in kept:
            kept[key] = encode(features)
        return kept[key]

    model.encode = MethodType(remembered, model)
    try:
        yield
    finally:
        if had_own:
            model.encode = encode
        else:
            del model.encode
        if kept:
            log.debug("encoder outputs kept for %d chunk(s)", len(kept))


def _rows(output: Any) -> list[tuple[Any, Any]]:
    """One StorageView per batch row, each with the array whose memory it views (kept alive)."""
    import ctranslate2

    rows: list[Any]
    if output.device == "cuda":  # the rows stay on the GPU (CUDA array interface, no host copy)
        import torch

        tensor = torch.as_tensor(output, device="cuda")
        rows = [tensor[i : i + 1].contiguous() for i in range(tensor.shape[0])]
    else:
        array = np.asarray(output)
        rows = [np.ascontiguousarray(array[i : i + 1]) for i in range(array.shape[0])]
    return [(ctranslate2.StorageView.from_array(row), row) for row in rows]


def default_batch(device: str) -> int:
    """Windows per encoder call when ENCODER_BATCH is 0: a GPU gains from batches, a CPU loses."""
    return 16 if device == "cuda" else 1

"""Steady background noise taken out of what the VAD hears (Whisper still hears the original).

In steady noise (a fan, hiss, the room's hum) Silero loses a phrase's quiet first and last
syllables, which over the whole band are only a few dB above the noise though far above it in the
bins where their formants lie, and it hears the noise's swings inside speech as pauses. So per
frequency bin a gain takes out the noise's power (power subtraction: the bin's power, smoothed over
SMOOTH_FRAMES so the noise's own swings do not pass, less NOISE_OVERESTIMATE times the noise's; no
bin below GAIN_FLOOR). The noise's power per bin is its mean over the quietest frames of each block
of BLOCK_SECONDS (QUIET_PERCENTILE, by mean log power, so every bin counts and not just the loud
bass: the frames in the pauses), the lowest of the blocks within NEIGHBOUR_BLOCKS either side (a
block of unbroken speech has no quiet frames of noise alone), interpolated between block centres so
a noise that changes slowly is followed. Whisper gets the original audio: it was trained on noisy
speech, and the gain's artefacts would only cost it.

Memory stays bounded however long the audio: each pass takes CHUNK_SECONDS at a time (with a
window's margin either side, discarded), and the result is half precision (plenty for a VAD).
bench/README.md, "Noise taken out of what the VAD hears", has the figures.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from worker.inputs.audio import SAMPLE_RATE

WINDOW = 512  # 32 ms, Silero's frame
HOP = 128
BLOCK_SECONDS = 10.0
NEIGHBOUR_BLOCKS = 1
QUIET_PERCENTILE = 15
NOISE_OVERESTIMATE = 2.0
SMOOTH_FRAMES = 5  # 5 hops: 40 ms
GAIN_FLOOR = 0.05  # of the power: -13 dB at most
CHUNK_SECONDS = 30.0


@functools.cache
def _window() -> Any:
    import torch

    return torch.hann_window(WINDOW)


def _spectrum(samples: np.ndarray) -> np.ndarray:
    import torch

    signal = torch.from_numpy(np.ascontiguousarray(samples, np.float32))
    return torch.stft(signal, WINDOW, HOP, window=_window(), return_complex=True).numpy()


def _power(spectrum: np.ndarray) -> np.ndarray:
    return spectrum.real**2 + spectrum.imag**2  # type: ignore[no-any-return]


def _smoothed(power: np.ndarray) -> np.ndarray:
    """Each bin's power averaged over SMOOTH_FRAMES frames around each: the noise's own
    frame-to-frame swings would otherwise pass the gain (musical noise)."""
    half, frames = SMOOTH_FRAMES // 2, power.shape[1]
    padded = np.pad(power, ((0, 0), (half, half)), mode="edge")
    total = padded[:, :frames].copy()
    for k in range(1, SMOOTH_FRAMES):
        total += padded[:, k : k + frames]
    return total / SMOOTH_FRAMES


def noise_floor(samples: np.ndarray) -> np.ndarray:
    """Per block of BLOCK_SECONDS (rows) and frequency bin (columns), the noise's power."""
    block = int(BLOCK_SECONDS * SAMPLE_RATE)
    lows = []
    for first in range(0, max(len(samples), 1), block):
        if first and len(samples) - first < WINDOW:
            break  # a sliver at the end (too short to transform): the block before covers it
        power = _power(_spectrum(samples[first : first + block]))
        loudness = np.log(power + 1e-20).mean(axis=0)  # every bin weighs the same, not the loud bass
        quiet = loudness <= np.percentile(loudness, QUIET_PERCENTILE)
        lows.append(power[:, quiet].mean(axis=1))
    low = np.array(lows)
    floor = np.array(
        [low[max(0, i - NEIGHBOUR_BLOCKS) : i + NEIGHBOUR_BLOCKS + 1].min(axis=0) for i in range(len(low))]
    )
    return (floor * NOISE_OVERESTIMATE).astype(np.float32)


def denoised(
    samples: np.ndarray, check: Callable[[], None] | None = None, chunk_seconds: float = CHUNK_SECONDS
) -> np.ndarray:
    """`samples` with the steady noise's power subtracted per bin (float16, the same length), taken
    `chunk_seconds` at a time. `check` is called before each chunk and may raise to stop (a job's
    cancel hook)."""
    import torch

    if len(samples) < WINDOW:
        return samples.astype(np.float16)
    floor = noise_floor(samples)
    centres = (np.arange(len(floor)) + 0.5) * BLOCK_SECONDS
    out = np.empty(len(samples), np.float16)
    chunk, margin = int(chunk_seconds * SAMPLE_RATE), WINDOW
    for first in range(0, len(samples), chunk):
        if check is not None:
            check()
        lo, hi = max(first - margin, 0), min(first + chunk + margin, len(samples))
        spectrum = _spectrum(samples[lo:hi])
        times = (lo + np.arange(spectrum.shape[1]) * HOP) / SAMPLE_RATE
        at = np.clip(np.searchsorted(centres, times) - 1, 0, max(len(centres) - 2, 0))
        weight = np.clip((times - centres[at]) / BLOCK_SECONDS, 0.0, 1.0).astype(np.float32)[:, None]
        following = np.minimum(at + 1, len(centres) - 1)
        noise = (floor[at] * (1 - weight) + floor[following] * weight).T
        power = _smoothed(_power(spectrum))
        gain = np.sqrt(np.maximum(1 - noise / np.maximum(power, 1e-20), GAIN_FLOOR))
        piece = torch.istft(torch.from_numpy(spectrum * gain), WINDOW, HOP, window=_window(), length=hi - lo)
        end = min(first + chunk, len(samples))
        out[first:end] = piece.numpy()[first - lo : end - lo]
    return out

"""Decoding audio to what Whisper consumes: 16 kHz mono float32, through ffmpeg."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000


class AudioError(ValueError):
    """The audio cannot be decoded (missing, corrupt, not audio, or silent-empty)."""


@cache
def ffmpeg() -> str:
    """The system's ffmpeg if there is one, else the static build shipped by imageio-ffmpeg."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def load_audio(path: Path, name: str | None = None) -> np.ndarray:
    """The whole file as float32 samples in [-1, 1] at 16 kHz mono; `name` is used in errors."""
    name = name or str(path)
    command = [ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "0", "-i", str(path)]
    command += ["-f", "s16le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"]
    done = subprocess.run(command, capture_output=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = lines[-1] if lines else f"ffmpeg exited {done.returncode}"
        raise AudioError(f"audio {name} cannot be decoded: {reason}")
    samples = np.frombuffer(done.stdout, np.int16).astype(np.float32) / 32768.0
    if samples.size < SAMPLE_RATE // 10:
        raise AudioError(f"audio {name} has no sound (under 0.1 s decoded)")
    return samples

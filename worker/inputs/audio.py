"""Decoding audio to what Whisper consumes: 16 kHz mono float32, through ffmpeg.

ffmpeg picks its demuxer from the file's content, and some demuxers open other files (an HLS or
concat playlist naming local paths). Every ffmpeg call here therefore accepts only the plain audio
containers of ACCEPTED_CONTAINERS and only the `file` protocol, whichever ffmpeg is on PATH. The
container and duration are probed (`ffmpeg -i`, as the static imageio-ffmpeg build ships no ffprobe)
before anything is decoded, and decoding stops at the duration cap even when the header lied.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
# ffmpeg demuxer names (`ffmpeg -demuxers`): mov covers mp4/m4a, matroska covers webm, asf covers wma.
ACCEPTED_CONTAINERS = ("mp3", "wav", "flac", "ogg", "mov", "aac", "matroska", "asf", "aiff", "w64")
PROBE_TIMEOUT_SECONDS = 120  # a header read takes milliseconds; only a hostile file takes this long
_READ_BYTES = 1 << 20  # decoded PCM read per step: 32 s of audio, then `check` may stop the decode
_INPUT = re.compile(r"^Input #0, (?P<format>[^ ]+), from ", re.MULTILINE)
_DURATION = re.compile(r"^\s*Duration: (?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d(?:\.\d+)?)", re.MULTILINE)


class AudioError(ValueError):
    """The audio cannot be decoded (missing, corrupt, not audio, or silent-empty)."""


@dataclass(frozen=True)
class AudioInfo:
    container: str  # ffmpeg's demuxer name, e.g. "mp3" or "mov,mp4,m4a,3gp,3g2,mj2"
    seconds: float | None  # from the header (an estimate for some mp3s); None when it states none


@cache
def ffmpeg() -> str:
    """The system's ffmpeg if there is one, else the static build shipped by imageio-ffmpeg."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _input(path: Path) -> list[str]:
    """ffmpeg's input options: plain audio containers from a local file, nothing else opened."""
    whitelist = ",".join(ACCEPTED_CONTAINERS)
    return ["-format_whitelist", whitelist, "-protocol_whitelist", "file", "-i", f"file:{path}"]


def _reason(stderr: str, fallback: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    for line in lines:  # ffmpeg's own words for a refused container are the clearest
        if "not on whitelist" in line:
            return f"not a plain audio file (accepted containers: {', '.join(ACCEPTED_CONTAINERS)})"
    return lines[-1].split("] ", 1)[-1] if lines else fallback


def probe_audio(path: Path, name: str | None = None) -> AudioInfo:
    """Container and stated duration, read from the header without decoding; AudioError if refused."""
    name = name or str(path)
    command = [ffmpeg(), "-nostdin", "-hide_banner", *_input(path)]
    try:
        done = subprocess.run(command, capture_output=True, check=False, timeout=PROBE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as error:
        raise AudioError(f"audio {name}: reading its header took over {PROBE_TIMEOUT_SECONDS} s") from error
    stderr = done.stderr.decode("utf-8", "replace")
    found = _INPUT.search(stderr)
    if found is None:  # without an output ffmpeg always exits 1; only a parsed input counts
        raise AudioError(f"audio {name} cannot be decoded: {_reason(stderr, 'ffmpeg could not open it')}")
    duration = _DURATION.search(stderr)
    seconds = None
    if duration is not None:
        seconds = int(duration["h"]) * 3600 + int(duration["m"]) * 60 + float(duration["s"])
    return AudioInfo(found["format"], seconds)


def load_audio(
    path: Path,
    name: str | None = None,
    max_seconds: float | None = None,
    check: Callable[[], None] | None = None,
) -> np.ndarray:
    """The whole file as float32 samples in [-1, 1] at 16 kHz mono; `name` is used in errors.

    Decoding stops with AudioError past `max_seconds` (so memory stays bounded whatever the header
    said), and `check` is called between reads: it may raise to stop (a job's cancel hook)."""
    name = name or str(path)
    command = [ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "0", *_input(path)]
    # ffmpeg hands every frame between its demux, decode, filter and mux threads; an MP3 frame is
    # 1152 samples, so an hour is ~150k hand-offs (3.6 s of futex time). Regrouping the samples into
    # large frames halves the decode's CPU (60-min MP3: 5.9 → 3.2 CPU s), the output bit for bit the same.
    command += ["-map", "0:a:0", "-af", "asetnsamples=n=65536:p=0"]
    command += ["-f", "s16le", "-ac", "1", "-ar", str(SAMPLE_RATE), "pipe:1"]
    limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE) * 2
    pcm = bytearray()
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty ffmpeg cannot block on it
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors)
        assert process.stdout is not None
        try:
            while chunk := process.stdout.read(_READ_BYTES):
                pcm += chunk
                if limit is not None and len(pcm) > limit:
                    raise AudioError(
                        f"audio {name} is longer than MAX_AUDIO_SECONDS ({max_seconds:.0f} s); refused"
                    )
                if check is not None:
                    check()
            returncode = process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
        errors.seek(0)
        stderr = errors.read().decode("utf-8", "replace")
    if returncode != 0:
        raise AudioError(f"audio {name} cannot be decoded: {_reason(stderr, f'ffmpeg exited {returncode}')}")
    samples = np.frombuffer(pcm, np.int16).astype(np.float32)
    samples *= 1 / 32768  # in place (a power of two: the same as dividing), no second 230 MB array per hour
    if samples.size < SAMPLE_RATE // 10:
        raise AudioError(f"audio {name} has no sound (under 0.1 s decoded)")
    return samples

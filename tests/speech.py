"""Hebrew test speech with known placement: espeak-ng speaks each sentence, we place the clips.

Each sentence is synthesised on its own at its own rate, its leading and trailing silence trimmed,
and laid out with chosen pauses, so every sentence's start and end in the result is exact.
"""

from __future__ import annotations

import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 22_050  # espeak-ng's native sample rate
SILENCE_LEVEL = 0.01


@dataclass(frozen=True)
class Placed:
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Speech:
    wav: Path
    sentences: list[Placed]
    duration: float

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.sentences) + "\n"


def speak(text: str, words_per_minute: int) -> np.ndarray:
    raw = subprocess.run(
        ["espeak-ng", "-v", "he", "-s", str(words_per_minute), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    samples = np.frombuffer(raw[44:], np.int16).astype(np.float32) / 32768.0  # skip the WAV header
    loud = np.flatnonzero(np.abs(samples) > SILENCE_LEVEL)
    return samples[loud[0] : loud[-1] + 1]


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())


def synthesize(sentences: list[str], path: Path, pauses: list[float], rates: list[int]) -> Speech:
    """Sentence i spoken at rates[i % len] and followed by pauses[i % len] seconds of silence."""
    pieces, placed, cursor = [np.zeros(int(0.5 * RATE), np.float32)], [], 0.5
    for index, sentence in enumerate(sentences):
        clip = speak(sentence, rates[index % len(rates)])
        placed.append(Placed(sentence, cursor, cursor + len(clip) / RATE))
        pause = pauses[index % len(pauses)]
        pieces += [clip, np.zeros(int(pause * RATE), np.float32)]
        cursor += (len(clip) + int(pause * RATE)) / RATE
    write_wav(path, np.concatenate(pieces))
    return Speech(path, placed, cursor)

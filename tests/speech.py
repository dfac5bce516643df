"""Hebrew test speech with known placement: espeak-ng speaks each sentence, we place the clips.

Each sentence is synthesised on its own at its own rate (libespeak-ng through the benchmark's
binding, from the PyPI package espeakng-loader), its leading and trailing silence trimmed, and laid
out with chosen pauses, so every sentence's start and end in the result is exact.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from bench.hebrew import Espeak, in_own_process, resample, trim_bounds


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


@cache
def _espeak() -> Espeak:
    return Espeak("he")


def speak(text: str, words_per_minute: int) -> np.ndarray:
    """One sentence, without its leading and trailing silence."""
    samples, _events = _espeak().synthesize(text, words_per_minute)
    first, last = trim_bounds(samples, _espeak().sample_rate)
    return samples[first:last]


def spoken_alone(texts: list[str], words_per_minute: int) -> list[np.ndarray]:
    """`speak` of each text, resampled to 16 kHz (what the worker's models hear), in a process of its
    own: libespeak-ng's output depends on what the process synthesised before, so a test whose
    verdict rests on the exact audio would depend on which tests ran first."""
    clips, rate = in_own_process(_speak_at_rates, texts, [words_per_minute])
    return [resample(clip, rate) for clip in clips]


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())


def _speak_at_rates(texts: list[str], rates: list[int]) -> tuple[list[np.ndarray], int]:
    """`speak` of text i at rates[i % len], and the sample rate."""
    return [speak(text, rates[i % len(rates)]) for i, text in enumerate(texts)], _espeak().sample_rate


def synthesize(sentences: list[str], path: Path, pauses: list[float], rates: list[int]) -> Speech:
    """Sentence i spoken at rates[i % len] and followed by pauses[i % len] seconds of silence; spoken
    in a process of its own (see `spoken_alone`), so the audio is the same whichever tests ran first."""
    clips, rate = in_own_process(_speak_at_rates, sentences, rates)
    pieces, placed, cursor = [np.zeros(int(0.5 * rate), np.float32)], [], 0.5
    for index, (sentence, clip) in enumerate(zip(sentences, clips, strict=True)):
        placed.append(Placed(sentence, cursor, cursor + len(clip) / rate))
        pause = pauses[index % len(pauses)]
        pieces += [clip, np.zeros(int(pause * rate), np.float32)]
        cursor += (len(clip) + int(pause * rate)) / rate
    write_wav(path, np.concatenate(pieces), rate)
    return Speech(path, placed, cursor)

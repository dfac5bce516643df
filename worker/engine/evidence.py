"""Text-match probes: does the audio say this text, or would any text of the language do as well?

A forced aligner places any text on any speech, and Whisper's word probabilities are low on a noisy
or synthetic right pair as on a wrong one, so neither tells a wrong pair from a right one. A
comparison does: in a few windows sampled across the recording, the probability Whisper gives the
window's own words (at the times they were aligned to) against the probability it gives as many
words taken from elsewhere in the same text, on the same audio. Right text wins clearly in most
windows; another lecture's text, a text in another language or a text on music wins about as often
as it loses. Two stable-ts `align_words` passes over at most PROBES × ~WORDS words' worth of audio
(about a minute): seconds of CPU, whatever the recording's length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from worker.engine.fidelity import TimedWord

SAMPLE_RATE = 16_000
PROBES = 12  # windows sampled evenly across the text
WORDS = 10  # words per window
PAD = 0.3  # seconds of audio kept around a window's words
MAX_WINDOW = 20.0  # seconds: a window of stretched words is cut (Whisper reads 30 s at most)
GAP = 0.5  # seconds of silence between windows laid end to end


@dataclass(frozen=True)
class Probe:
    start: float  # seconds, the window in the recording
    end: float
    first_word: int
    end_word: int  # one past the last word
    own: float  # mean probability of the window's own words
    other: float  # mean probability of as many words from elsewhere in the text

    @property
    def matches(self) -> bool:
        """The own words are clearly more probable than others (a margin both relative and absolute)."""
        return self.own > max(1.5 * self.other, self.other + 0.03)


def _window_starts(count: int) -> list[int]:
    if count <= WORDS:
        return [0] if count else []
    return sorted({int(x) for x in np.linspace(0, count - WORDS, PROBES)})


def probe_text(
    align_words: Any, samples: np.ndarray, words: list[TimedWord], language: str
) -> tuple[Probe, ...]:
    """`align_words(audio, segments, language)` is stable-ts's (a WhisperResult with one segment per
    given segment when regroup=False)."""
    starts = _window_starts(len(words))
    if not starts:
        return ()
    duration = len(samples) / SAMPLE_RATE
    own: list[dict[str, Any]] = []
    other: list[dict[str, Any]] = []
    spans: list[tuple[float, float, int, int]] = []
    stretches: list[tuple[float, float]] = []
    for first in starts:
        end_word = min(first + WORDS, len(words))
        window = words[first:end_word]
        start = max(window[0].start - PAD, 0.0)
        stretches.append((start, min(window[-1].end + PAD, duration, start + MAX_WINDOW)))
        # The same number of words half the text away (cyclically): same language, same speaker's style.
        shift = first + len(words) // 2
        own.append({"text": " ".join(w.word for w in window)})
        other.append({"text": " ".join(words[(shift + k) % len(words)].word for k in range(len(window)))})
        spans.append((window[0].start, window[-1].end, first, end_word))
    audio, placed = laid_end_to_end(samples, stretches)
    for segments in (own, other):
        for segment, (at, seconds) in zip(segments, placed, strict=True):
            segment.update(start=at, end=at + seconds)
    own_p = _mean_probabilities(align_words(audio, own, language), len(own))
    other_p = _mean_probabilities(align_words(audio, other, language), len(other))
    return tuple(
        Probe(start, end, first, end_word, round(o, 4), round(d, 4))
        for (start, end, first, end_word), o, d in zip(spans, own_p, other_p, strict=True)
    )


def laid_end_to_end(
    samples: np.ndarray, stretches: list[tuple[float, float]]
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The `stretches` (start, end seconds) of `samples` one after another, GAP seconds of silence
    after each (one `align_words` call then covers them all), and where each lies in the result as
    (start, seconds). Each is at least 0.3 s long where the recording allows (Whisper needs audio)."""
    pieces: list[np.ndarray] = []
    placed: list[tuple[float, float]] = []
    gap = np.zeros(int(GAP * SAMPLE_RATE), np.float32)
    at = 0.0
    for start, end in stretches:
        lo = int(start * SAMPLE_RATE)
        piece = samples[lo : max(int(end * SAMPLE_RATE), lo + 4800)]
        seconds = len(piece) / SAMPLE_RATE
        placed.append((at, seconds))
        pieces += [piece, gap]
        at += seconds + GAP
    audio = np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)
    return audio, placed


def _mean_probabilities(result: Any, count: int) -> list[float]:
    means = [
        float(np.mean([w.probability for w in segment.words])) if segment.words else 0.0
        for segment in result.segments
    ]
    return (means + [0.0] * count)[:count]

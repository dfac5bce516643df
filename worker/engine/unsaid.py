"""Written words the speaker never said (an editor's grammar fix): found, marked, shrunk to a point.

A forced aligner gives every written word some audio, said or not. Two tests together find a word
that was not said:
1. Whisper gives it a very low probability where it was aligned (the screen, cheap);
2. the text around it (CONTEXT words either side) is clearly more probable on that audio without it
   than with it: the sum of the log word probabilities, with the word against without, below
   THRESHOLD nats. Both passes are stable-ts `align_words` over the candidates' windows laid end to
   end (evidence.laid_end_to_end, with its PAD; a window over its MAX_WINDOW is not checked), so
   any backend does it in two calls.
A word found unsaid keeps its text, is marked `spoken=False`, and becomes a point where its
neighbours meet; the neighbours' inner edges are taken from the pass without it.

Where the model hears the recording poorly (median word probability below MIN_HEARD, e.g. Whisper
base on synthetic Hebrew) the ratio cannot tell said from unsaid and the check is skipped: the
screen would pass a quarter of the words and cost ~8 CPU s per minute of audio for nothing.
bench/README.md ("Words never said") has the figures behind each constant.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from worker.engine.evidence import MAX_WINDOW, PAD, laid_end_to_end
from worker.engine.fidelity import TimedWord
from worker.inputs.audio import SAMPLE_RATE

log = logging.getLogger(__name__)

SCREEN = 0.02  # a word aligned with at least this probability was heard
CONTEXT = 4  # words either side that the ratio weighs
THRESHOLD = -12.0  # nats: log p(text with the word) − log p(text without it)
MIN_HEARD = 0.2  # median word probability below which the model cannot tell (check skipped)
MAX_SHARE = 0.15  # at most this share of the words (or MIN_CHECKED) is checked, the least probable first
MIN_CHECKED = 20
FLOOR = 1e-6  # a word probability of 0 counts as this (log)

AlignWords = Callable[[np.ndarray, list[dict[str, Any]], str], Any]


@dataclasses.dataclass(frozen=True)
class _Window:
    word: int  # the candidate's index
    first: int  # its context: words[first:end]
    end: int
    start: float  # seconds in the recording
    at: float  # where the window starts in the laid-out audio
    seconds: float

    def segment(self, words: list[TimedWord], keep: bool) -> dict[str, Any]:
        """The window's text, with or without its candidate, over its stretch of the laid-out audio."""
        text = [
            w.word for k, w in enumerate(words[self.first : self.end], self.first) if keep or k != self.word
        ]
        return {"start": self.at, "end": self.at + self.seconds, "text": " ".join(text)}


def mark_unsaid(
    align_words: AlignWords, samples: np.ndarray, words: list[TimedWord], language: str
) -> list[TimedWord]:
    """`words` with those found unsaid marked `spoken=False` and shrunk to a point (same text, same
    order). `align_words(audio, segments, language)` is stable-ts's, one result segment per given one."""
    heard = [w.probability for w in words if w.spoken]
    if not heard:
        return words
    median = float(np.median(heard))
    if median < MIN_HEARD:
        log.info("unsaid-word check skipped: median word probability %.2f < %.2f", median, MIN_HEARD)
        return words
    windows, audio = _layout(samples, words)
    if not windows:
        return words
    try:
        with_word = align_words(audio, [w.segment(words, keep=True) for w in windows], language).segments
        without = align_words(audio, [w.segment(words, keep=False) for w in windows], language).segments
    except Exception as error:  # an optional mark must not fail a job whose alignment is done
        log.warning("unsaid-word check skipped: the engine failed on its windows (%s)", error)
        return words
    if len(with_word) != len(windows) or len(without) != len(windows):
        log.warning("unsaid-word check skipped: the engine returned other segments than it was given")
        return words
    out = list(words)
    found = 0
    for window, said, unsaid in zip(windows, with_word, without, strict=True):
        if _log_probability(said) - _log_probability(unsaid) < THRESHOLD:
            found += 1
            _shrink(out, window, unsaid.words)
    log.info("unsaid-word check: %d of %d candidate(s) not said", found, len(windows))
    return out


def _layout(samples: np.ndarray, words: list[TimedWord]) -> tuple[list[_Window], np.ndarray]:
    """The candidates' windows, and their audio laid end to end with a short silence between."""
    duration = len(samples) / SAMPLE_RATE
    candidates = sorted(
        (i for i, w in enumerate(words) if w.spoken and w.probability < SCREEN),
        key=lambda i: words[i].probability,
    )[: max(int(MAX_SHARE * len(words)), MIN_CHECKED)]
    chosen: list[tuple[int, int, int]] = []
    stretches: list[tuple[float, float]] = []
    for i in sorted(candidates):
        first, end = max(i - CONTEXT, 0), min(i + CONTEXT + 1, len(words))
        start = max(words[first].start - PAD, 0.0)
        stop = min(words[end - 1].end + PAD, duration)
        if end - first < 2 or stop - start > MAX_WINDOW:
            continue  # nothing to weigh it against; or words stretched over a long stretch
        chosen.append((i, first, end))
        stretches.append((start, stop))
    audio, placed = laid_end_to_end(samples, stretches)
    windows = [
        _Window(i, first, end, start, at, seconds)
        for (i, first, end), (start, _), (at, seconds) in zip(chosen, stretches, placed, strict=True)
    ]
    return windows, audio


def _log_probability(segment: Any) -> float:
    return float(np.sum(np.log(np.maximum([w.probability for w in segment.words], FLOOR))))


def _shrink(words: list[TimedWord], window: _Window, without: list[Any]) -> None:
    """Mark words[window.word] unsaid and make it a point where its neighbours meet. The neighbours'
    inner edges come from the pass without it when that pass kept the window's words one to one."""
    i = window.word
    before, after = (words[i - 1] if i > 0 else None), (words[i + 1] if i + 1 < len(words) else None)
    point = (words[i].start + words[i].end) / 2
    one_to_one = len(without) == window.end - window.first - 1
    if one_to_one and before is not None and after is not None and before.spoken and after.spoken:
        k = i - 1 - window.first  # the word before, in the pass without the candidate
        offset = window.start - window.at
        end_before = min(max(without[k].end + offset, before.start), after.end)
        start_after = min(max(without[k + 1].start + offset, end_before), after.end)
        words[i - 1] = dataclasses.replace(before, end=end_before)
        words[i + 1] = dataclasses.replace(after, start=start_after)
        point = end_before
    elif before is not None:
        point = max(point, before.end)
    words[i] = dataclasses.replace(words[i], start=point, end=point, spoken=False)

"""Grouping timed words into subtitle cues (the segments of the JSON, the cues of the VTT).

A cue ends at a line break of the corrected text, after sentence-ending punctuation, before a pause,
or when it would grow too long to read. Words are never split, merged or moved between lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.engine.fidelity import TimedWord

MAX_CUE_CHARS = 84  # two subtitle lines of 42 characters, the common broadcast limit
MAX_CUE_SECONDS = 7.0
PAUSE_SECONDS = 1.0
SENTENCE_END = (".", "?", "!", "…", ":", "׃")  # ׃ is the Hebrew sof pasuq


@dataclass(frozen=True, slots=True)
class Cue:
    words: list[TimedWord]

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def end(self) -> float:
        return self.words[-1].end

    @property
    def text(self) -> str:
        return " ".join(w.word for w in self.words)


def group_cues(words: list[TimedWord], line_ends: frozenset[int] = frozenset()) -> list[Cue]:
    """Cues in order; `line_ends` holds indexes of words followed by a line break in the text."""
    cues: list[Cue] = []
    current: list[TimedWord] = []
    chars = 0
    for index, word in enumerate(words):
        if current and (
            chars + 1 + len(word.word) > MAX_CUE_CHARS
            or word.end - current[0].start > MAX_CUE_SECONDS
            or word.start - current[-1].end >= PAUSE_SECONDS
        ):
            cues.append(Cue(current))
            current, chars = [], 0
        current.append(word)
        chars += len(word.word) + (chars > 0)
        if index in line_ends or word.word.endswith(SENTENCE_END):
            cues.append(Cue(current))
            current, chars = [], 0
    if current:
        cues.append(Cue(current))
    return cues

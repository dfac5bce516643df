"""Scoring timed words against reference words (pure functions, no model).

- A *boundary* is a word start or a word end; its error is |hypothesis − reference| in seconds.
- Word F1 at a collar c: a word is correct when both its start and its end are within c of the
  reference. The aligner outputs exactly the text's words (checked by text fidelity), so precision
  equals recall and F1 is the share of correct words; a word missing from the output counts as wrong.
- Text fidelity: the output words against the text's words (inserted, dropped, changed): must be 0.
- Real-time factor (RTF): wall seconds of `Aligner.align` / audio seconds (lower is faster).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Protocol

import numpy as np

THRESHOLDS_MS = (20, 50, 100, 200)
COLLARS_MS = (100, 200)


class Timed(Protocol):
    @property
    def word(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


@dataclass(frozen=True)
class Fidelity:
    inserted: int = 0
    dropped: int = 0
    changed: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.dropped + self.changed

    def __add__(self, other: Fidelity) -> Fidelity:
        return Fidelity(
            self.inserted + other.inserted, self.dropped + other.dropped, self.changed + other.changed
        )


def fidelity(text_words: Sequence[str], output_words: Sequence[str]) -> Fidelity:
    inserted = dropped = changed = 0
    for tag, i1, i2, j1, j2 in SequenceMatcher(
        None, list(text_words), list(output_words), autojunk=False
    ).get_opcodes():
        if tag == "insert":
            inserted += j2 - j1
        elif tag == "delete":
            dropped += i2 - i1
        elif tag == "replace":
            common = min(i2 - i1, j2 - j1)
            changed += common
            dropped += (i2 - i1) - common
            inserted += (j2 - j1) - common
    return Fidelity(inserted, dropped, changed)


def pair_words(reference: Sequence[Timed], output: Sequence[Timed]) -> list[tuple[Timed, Timed | None]]:
    """Each reference word with its output word (None where the output lost it)."""
    pairs: list[tuple[Timed, Timed | None]] = [(r, None) for r in reference]
    matcher = SequenceMatcher(None, [w.word for w in reference], [w.word for w in output], autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            pairs[block.a + k] = (reference[block.a + k], output[block.b + k])
    return pairs


def boundary_errors(reference: Sequence[Timed], output: Sequence[Timed]) -> np.ndarray:
    """Signed errors (output − reference, seconds) of every start and end; NaN where the word is missing."""
    errors = []
    for ref, out in pair_words(reference, output):
        if out is None:
            errors += [np.nan, np.nan]
        else:
            errors += [out.start - ref.start, out.end - ref.end]
    return np.asarray(errors, dtype=np.float64)


def spoken_only(signed: np.ndarray, spoken: Sequence[bool]) -> np.ndarray:
    """The boundary errors (starts and ends interleaved) of the words that were said."""
    if not spoken:
        return signed
    mask = np.repeat(np.asarray(spoken, dtype=bool), 2)
    kept: np.ndarray = signed[mask]
    return kept


def sentence_end_flags(
    reference: Sequence[Timed],
    output: Sequence[Timed],
    sentences: Sequence[tuple[int, int]],
    flagged: set[int],
) -> tuple[int, int, int, int]:
    """(sentence ends, flagged, flagged and > 0.5 s off, > 0.5 s off) over the ends between two
    sentences; an end is off by the larger error of its sentence's end and the next one's start."""
    ends = [last for _, last in sentences[:-1]]
    off = {
        i
        for i in ends
        if max(abs(output[i].end - reference[i].end), abs(output[i + 1].start - reference[i + 1].start)) > 0.5
    }
    hits = flagged & set(ends)
    return len(ends), len(hits), len(hits & off), len(off)


def sentence_errors(
    reference: Sequence[Timed], output: Sequence[Timed], sentences: Sequence[tuple[int, int]]
) -> np.ndarray:
    """|error| of each sentence's start (its first word's start) and end (its last word's end)."""
    pairs = pair_words(reference, output)
    errors = []
    for first, last in sentences:
        for index, attribute in ((first, "start"), (last, "end")):
            ref, out = pairs[index]
            errors.append(np.inf if out is None else abs(getattr(out, attribute) - getattr(ref, attribute)))
    return np.asarray(errors, dtype=np.float64)


@dataclass
class Score:
    """One configuration on one set."""

    boundaries: int
    within: dict[int, float]  # threshold ms -> share of boundaries within it
    median_ms: float
    mean_ms: float
    f1: dict[int, float]  # collar ms -> word F1
    fidelity: Fidelity
    engine_repairs: int  # what the worker had to repair after the engine (informational)
    audio_s: float
    wall_s: float
    sentence_boundaries: int = 0
    sentence_max_s: float = float("nan")
    sentences_over_half_s: int = 0
    bias_ms: float = float("nan")  # median signed error: + means late
    sentence_within_200: float = float("nan")  # share of sentence boundaries within 200 ms
    unspoken: int = 0  # text words never said (lecture sets)
    unspoken_flagged: int = 0  # of those, published with spoken=False
    flagged_wrongly: int = 0  # said words published with spoken=False
    suspicious_s: float = 0.0  # seconds the engine reported as suspicious
    # sentence ends (between two sentences) the review flags as placed in unbroken speech, how many
    # of those are > 0.5 s off, and how many of all > 0.5 s off it flags (synthetic sets, 0 words changed)
    sentence_ends: int = 0
    sentence_ends_flagged: int = 0
    sentence_flags_right: int = 0  # flagged and > 0.5 s off (a right flag)
    sentence_ends_off: int = 0  # > 0.5 s off, flagged or not
    abs_errors: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    @property
    def rtf(self) -> float:
        return self.wall_s / self.audio_s if self.audio_s else float("nan")


def score(
    signed: np.ndarray,
    fid: Fidelity,
    engine_repairs: int,
    audio_s: float,
    wall_s: float,
    sentence_abs: np.ndarray | None = None,
) -> Score:
    """Summarise signed boundary errors (starts and ends interleaved per word: s0, e0, s1, e1, …)."""
    absolute = np.abs(signed)
    missing = np.isnan(absolute)
    filled = np.where(missing, np.inf, absolute)
    n = len(filled)
    within = {t: float(np.mean(filled <= t / 1000)) if n else float("nan") for t in THRESHOLDS_MS}
    per_word = filled.reshape(-1, 2).max(axis=1) if n else filled
    f1 = {c: float(np.mean(per_word <= c / 1000)) if n else float("nan") for c in COLLARS_MS}
    finite = absolute[~missing]
    result = Score(
        boundaries=n,
        within=within,
        median_ms=float(np.median(filled)) * 1000 if n else float("nan"),
        mean_ms=float(np.mean(finite)) * 1000 if finite.size else float("nan"),
        f1=f1,
        fidelity=fid,
        engine_repairs=engine_repairs,
        audio_s=audio_s,
        wall_s=wall_s,
        bias_ms=float(np.median(signed[~missing])) * 1000 if finite.size else float("nan"),
        abs_errors=filled,
    )
    if sentence_abs is not None and sentence_abs.size:
        result.sentence_boundaries = int(sentence_abs.size)
        result.sentence_max_s = float(np.max(sentence_abs))
        result.sentences_over_half_s = int(np.sum(sentence_abs > 0.5))
        result.sentence_within_200 = float(np.mean(sentence_abs <= 0.2))
    return result

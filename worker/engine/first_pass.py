"""A first engine pass as evidence for the anchoring, but only where it agrees with the speaking rate.

The first pass (stable-ts `align()` over the whole recording, fast_mode) places short real speech
well: on real English it is what finds the right pauses (bench: en_mfa_concatenated, 92 % of
placed pauses right with it, 20 % without). Over a long recording it drifts: on the 30-minute
synthetic lecture it ran up to 77 s late from minute 15 on, and its confidence pulled the anchoring
along (68 % of pauses right, worst 157 s off; 96 % without it). So the anchoring runs once on the
rate alone (drift-free by construction: the text may stray only so far from the mean rate), and a
first-pass word counts as evidence only within `TOLERANCE_SECONDS` of where that run puts it;
elsewhere its confidence is zeroed. Measured with the first pass cached per set
(bench: lecture_30 97.4 %, worst 2.0 s; en_mfa_concatenated unchanged).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from worker.engine.anchors import Anchoring, place_pauses, units
from worker.engine.fidelity import TimedWord
from worker.engine.vad import Pause

# The rate-only anchoring is within ~1 s of the truth for 90 % of words on every bench set; a first
# pass further from it than this is drifting, not hearing.
TOLERANCE_SECONDS = 4.0


def implied_starts(anchoring: Anchoring, words: Sequence[str], duration: float) -> np.ndarray:
    """Each word's start as the anchoring implies it: placed pauses, letters interpolated between them."""
    at = np.concatenate([[0], np.cumsum([units(w) for w in words])]).astype(float)
    ks = [0] + [k for k, _ in anchoring.cuts] + [len(words)]
    times = [0.0] + [(pause.start + pause.end) / 2 for _, pause in anchoring.cuts] + [duration]
    starts: np.ndarray = np.interp(at[: len(words)], at[ks], times)
    return starts


def trusted_evidence(
    words: Sequence[str],
    first_pass: Sequence[TimedWord],
    pauses: Sequence[Pause],
    duration: float,
    anchor_pause: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> list[TimedWord]:
    """`first_pass` with probability 0 (no pull on the anchoring) wherever it strays from the rate."""
    rate_only = place_pauses(words, pauses, duration, anchor_pause)
    expected = implied_starts(rate_only, words, duration)
    return [
        w if abs(w.start - expected[i]) <= tolerance else dataclasses.replace(w, probability=0.0)
        for i, w in enumerate(first_pass)
    ]

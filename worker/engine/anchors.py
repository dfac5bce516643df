"""Which word boundary each long pause falls at: a dynamic programme over pauses, text and speaking rate.

The speaker's long pauses (VAD) are matched, in order, to word boundaries of the text, so that the
text between two placed pauses fits the speech between them. What it must survive in a real lecture:

- the speaking rate changes within a lecture (slow explanation, a quoted passage read fast): the
  rate is a hidden state of the programme (a few levels around the recording's mean) that may change
  a little at every placed pause, so a fast stretch is explained by a faster rate, not by moving
  the text (with one global rate, a 13-minute stretch drifted by up to a minute);
- sound the text does not hold (a music intro, a ringing phone, a filler between two pauses): a
  stretch between two pauses may carry no words, at a cost growing with its speech time;
- a pause inside a sentence: it may be skipped (costly, more so the longer it is);
- a first engine pass (`evidence`) that is confident about a boundary pulls the pause there.

Cost is linear in the lecture's length: a placement may only follow the placements of the previous
few pauses, it moves forward by as many words as the speech between them allows at the slowest and
fastest rate levels, and after each pause only states within `beam` of the best are kept.
`Anchoring.cells` counts the candidate cells evaluated (the benchmark's and tests' measure of cost).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from worker.engine.fidelity import TimedWord
from worker.engine.vad import Pause, reliable

_SENTENCE_END = tuple(".?!:׃")
_CLAUSE_END = tuple(",;־–-")

RATE_RANGE = 0.5  # the local rate stays within exp(±0.5) of the recording's mean
RATE_STEP_MAX = 0.3  # one stretch moves the local rate by at most gain × this (log)
RATE_GAIN_WORDS = 40.0  # a stretch of n words moves the local rate by n / this of its residual ...
RATE_GAIN_MAX = 0.3  # ... at most this share
SLACK_UNITS = 16.0  # a stretch may hold this much more text than its speech allows (short stretches)
SIGMA = 0.25  # spread of log(speech / expected) of one stretch at the right rate
SHORT_SIGMA = 0.5  # extra variance for a stretch of few words (÷ its word count)
WORDLESS_COST = 0.8  # a stretch between two pauses that holds none of the text's words ...
WORDLESS_PER_SECOND = 0.25  # ... plus this per second of speech in it
WORDLESS_LONG = 3.0  # beyond this many seconds, each further second costs WORDLESS_LONG_PER_SECOND
WORDLESS_LONG_PER_SECOND = 0.5
# The text's position may stray from where the mean rate puts it by DRIFT_SECONDS + DRIFT_SHARE of the
# speech so far for free; beyond, a cost grows with the square (per DRIFT_SCALE seconds): rate
# tracking and wordless stretches must not let the text run ahead (or behind) for minutes.
DRIFT_SECONDS = 20.0
DRIFT_SHARE = 0.1
DRIFT_SCALE = 10.0
MAX_SKIP = 3  # pauses that may be skipped between two placed ones
BEAM = 10.0  # states costlier than the best by more than this are dropped ...
MAX_STATES = 150  # ... and at most this many boundaries are kept per pause (the cheapest)


# A pause placed at a word boundary: (boundary, pause)
Cut = tuple[int, Pause]


@dataclass
class Anchoring:
    """Placed pauses and what the programme thought of each stretch between them."""

    cuts: list[tuple[int, Pause]]  # (boundary, pause), in order; several pauses may share a boundary
    # per stretch between consecutive placed pauses: (first word, end word, start s, end s, log ratio
    # of its speech to the text's length at the chosen rate level)
    stretches: list[tuple[int, int, float, float, float]] = field(default_factory=list)
    cells: int = 0  # candidate cells evaluated (cost measure)


def boundary_points(cuts: Sequence[Cut]) -> list[tuple[int, float, float]]:
    """(boundary, its pauses' start, their end) per boundary that `cuts` place pauses at, in order:
    several pauses at one boundary (sound the text does not hold between them: a music intro, a
    filler) act as one pause from the first one's start to the last one's end."""
    at: dict[int, list[Pause]] = {}
    for k, pause in cuts:
        at.setdefault(k, []).append(pause)
    return [(k, min(p.start for p in ps), max(p.end for p in ps)) for k, ps in sorted(at.items())]


def units(word: str) -> int:
    """Spoken length of a word, in letters (+1 for the transition)."""
    return sum(ch.isalnum() for ch in word) + 1


def boundary_cost(word_before: str) -> float:
    stripped = word_before.rstrip("\"'”’)]»")
    if stripped.endswith(_SENTENCE_END):
        return 0.0
    if stripped.endswith(_CLAUSE_END):
        return 0.7
    return 2.0


class _SpeechClock:
    """Speech time before t: t minus the pauses before it (all pauses, however short)."""

    def __init__(self, pauses: Sequence[Pause]) -> None:
        self._starts = np.array([p.start for p in pauses])
        self._ends = np.array([p.end for p in pauses])
        self._before = np.concatenate([[0.0], np.cumsum(self._ends - self._starts)])

    def __call__(self, t: float) -> float:
        i = int(np.searchsorted(self._starts, t, side="right"))  # pauses starting at or before t
        if i == 0:
            return t
        inside = min(t, float(self._ends[i - 1])) - float(self._starts[i - 1])
        return t - float(self._before[i - 1]) - inside


def _evidence_costs(
    evidence: Sequence[TimedWord],
    pause: Pause,
    ks: np.ndarray,
    confidence: np.ndarray,
    weight: float,
    cap: float,
) -> np.ndarray:
    """weight × the first pass's confidence at boundary k × how far its boundary k is from the pause."""
    gap_lo = np.array([evidence[k - 1].end for k in ks])
    gap_hi = np.array([evidence[k].start for k in ks])
    apart = np.maximum(0.0, np.maximum(pause.start - gap_hi, gap_lo - pause.end))
    costs: np.ndarray = weight * confidence[ks] * np.minimum(apart, cap)
    return costs


def _boundary_confidence(evidence: Sequence[TimedWord], n: int) -> np.ndarray:
    """Per boundary k, the median probability of the six words around it (fillers score ~0 alone)."""
    probs = np.array([w.probability for w in evidence])
    out = np.zeros(n + 1)
    for k in range(1, n):
        out[k] = float(np.median(probs[max(k - 3, 0) : k + 3]))
    return out


def place_pauses(
    words: Sequence[str],
    pauses: Sequence[Pause],
    duration: float,
    anchor_pause: float = 0.2,
    evidence: Sequence[TimedWord] | None = None,
    evidence_weight: float = 10.0,
    evidence_cap: float = 2.0,
    beam: float = BEAM,
    max_states: int = MAX_STATES,
) -> Anchoring:
    """The pauses ≥ `anchor_pause` placed at word boundaries (see the module docstring).

    Only pauses the VAD is sure of count, narrowed to their sure core (`vad.reliable`): in noise or
    echo the others lie inside words as often as between them, and both the speech clock and the
    placements drifted on them."""
    pauses = reliable(pauses)
    long = [p for p in pauses if p.duration >= anchor_pause]
    n = len(words)
    if not long or n < 2:
        return Anchoring([])
    cum = np.concatenate([[0], np.cumsum([units(w) for w in words])]).astype(np.float64)
    bcost = np.array([0.0] + [boundary_cost(w) for w in words[:-1]] + [0.0])
    clock = _SpeechClock(pauses)
    head = long[0] if long[0].start <= 0.05 else None
    tail = long[-1] if long[-1].end >= duration - 0.05 else None
    inner = [p for p in long if p is not head and p is not tail]
    chain = [Pause(0.0, head.end if head else 0.0), *inner, Pause(tail.start if tail else duration, duration)]
    count = len(chain)
    s_start = np.array([clock(p.start) for p in chain])
    s_end = np.array([clock(p.end) for p in chain])
    skip = np.array([3.0 * min(p.duration, 2.0) for p in chain])
    skip_before = np.concatenate([[0.0], np.cumsum(skip)])  # skip cost of chain[a:b] = [b] - [a]
    rate = max(float(s_start[-1]), 1e-3) / cum[-1]  # mean seconds of speech per unit
    confidence = _boundary_confidence(evidence, n) if evidence is not None else None

    states = [_States(np.array([0]), np.array([0.0]), np.array([0.0]))]
    cells = 0
    for m in range(1, count):
        last = m == count - 1
        keys, vals, rates, froms = [], [], [], []
        for mp in range(max(0, m - 1 - MAX_SKIP), m):
            prev = states[mp]
            if prev.ks.size == 0:
                continue
            d = max(float(s_start[m] - s_end[mp]), 0.0)
            # each previous state moves forward by no word (sound the text lacks) or by as many words
            # as d seconds of speech hold at its local rate, give or take 2.5 σ and some slack
            local = d / (rate * np.exp(prev.log_rate))
            base = cum[prev.ks]
            least = np.searchsorted(cum, base + local * np.exp(-2.5 * SIGMA) - SLACK_UNITS) - prev.ks
            most = (
                np.searchsorted(cum, base + local * np.exp(2.5 * SIGMA) + SLACK_UNITS, side="right") - prev.ks
            )
            least = np.maximum(least, 1)
            # candidate cells: (state row, words moved), only those within reach of their row
            offsets = np.arange(int(least.min()), int(most.max()) + 1)
            reach = (offsets[None, :] >= least[:, None]) & (offsets[None, :] <= most[:, None])
            rows, columns = np.nonzero(reach)
            rows = np.concatenate([np.arange(prev.ks.size), rows])  # moving by no word: always a candidate
            n_words = np.concatenate([np.zeros(prev.ks.size, np.int64), offsets[columns]])
            k = prev.ks[rows] + n_words
            valid = k == n if last else k <= n
            rows, n_words, k = rows[valid], n_words[valid], k[valid]
            cells += k.size
            log_rate = prev.log_rate[rows]
            expected = rate * np.exp(log_rate) * np.maximum(cum[k] - base[rows], 1e-9)
            residual = np.log(max(d, 1e-3) / expected)
            fit = residual**2 / (2 * (SIGMA**2 + SHORT_SIGMA / np.maximum(n_words, 1)))
            wordless = (
                WORDLESS_COST
                + WORDLESS_PER_SECOND * d
                + WORDLESS_LONG_PER_SECOND * max(0.0, d - WORDLESS_LONG)
            )
            fit = np.where(n_words == 0, wordless, fit)
            # the rate follows the speaker: a stretch with many words moves it more
            gain = np.minimum(RATE_GAIN_MAX, n_words / RATE_GAIN_WORDS)
            step = gain * np.clip(residual, -RATE_STEP_MAX, RATE_STEP_MAX) * (n_words > 0)
            keys.append(k)
            vals.append(prev.cost[rows] + fit + float(skip_before[m] - skip_before[mp + 1]))
            rates.append(np.clip(log_rate + step, -RATE_RANGE, RATE_RANGE))
            froms.append(np.stack([np.full(rows.size, mp), rows], axis=1))
        if not any(k.size for k in keys):  # no candidate survived (every boundary out of reach)
            states.append(_States.empty())
            continue
        key, val = np.concatenate(keys), np.concatenate(vals)
        first = _cheapest_per_boundary(key, val)
        ks, cost = key[first], val[first]
        if not last:
            cost = cost + bcost[ks] * min(chain[m].duration, 2.0)
            drift = np.abs(cum[ks] * rate - s_start[m]) - (DRIFT_SECONDS + DRIFT_SHARE * s_start[m])
            cost = cost + (np.maximum(drift, 0.0) / DRIFT_SCALE) ** 2
            if confidence is not None and evidence is not None:
                inner_ks = np.clip(ks, 1, n - 1)
                ev = _evidence_costs(evidence, chain[m], inner_ks, confidence, evidence_weight, evidence_cap)
                cost = cost + np.where((ks >= 1) & (ks < n), ev, 0.0)
        keep = cost <= cost.min() + beam
        if keep.sum() > max_states:
            keep &= cost <= np.partition(cost, max_states - 1)[max_states - 1]
        states.append(
            _States(
                ks[keep], cost[keep], np.concatenate(rates)[first][keep], np.concatenate(froms)[first][keep]
            )
        )
    if states[-1].ks.size == 0:
        return Anchoring([], cells=cells)
    path: list[tuple[int, int, float]] = []  # (chain index, boundary, log rate)
    m, row = count - 1, int(np.argmin(states[-1].cost))
    while True:
        st = states[m]
        path.append((m, int(st.ks[row]), float(st.log_rate[row])))
        if m == 0:
            break
        m, row = int(st.back[row, 0]), int(st.back[row, 1])
    path.reverse()
    cuts: list[tuple[int, Pause]] = []
    if head:
        cuts.append((0, head))
    cuts += [(k, chain[m]) for m, k, _ in path[1:-1]]
    if tail:
        cuts.append((n, tail))
    stretches = []
    for (m1, k1, r1), (m2, k2, _) in itertools.pairwise(path):
        d = max(float(s_start[m2] - s_end[m1]), 1e-3)
        text = float(cum[k2] - cum[k1])
        ratio = float(np.log(d / (rate * np.exp(r1) * text))) if text else float("inf")
        stretches.append((k1, k2, chain[m1].end, chain[m2].start, ratio))
    return Anchoring(cuts, stretches, cells)


def _cheapest_per_boundary(key: np.ndarray, val: np.ndarray) -> np.ndarray:
    """Per boundary in `key`, the index of its cheapest candidate (the first of equals), by boundary
    (a scatter-min: sorting every candidate took half the programme's time)."""
    lo = int(key.min())
    best = np.full(int(key.max()) - lo + 1, np.inf)
    np.minimum.at(best, key - lo, val)
    winners = np.flatnonzero(val == best[key - lo])
    _, first = np.unique(key[winners], return_index=True)
    found: np.ndarray = winners[first]
    return found


@dataclass
class _States:
    """The surviving placements of one pause: boundary, cost so far, log rate, (pause, row) before."""

    ks: np.ndarray
    cost: np.ndarray
    log_rate: np.ndarray
    back: np.ndarray = field(default_factory=lambda: np.full((1, 2), -1))

    @classmethod
    def empty(cls) -> _States:
        return cls(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros((0, 2), np.int64))

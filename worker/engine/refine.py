"""Refining the engine's word boundaries on the signal.

Whisper's cross-attention timing (what stable-ts aligns with) places boundaries to within a few
frames inside continuous speech, but it does not see pauses: a pause is usually absorbed into the
next word (which then starts hundreds of ms, sometimes seconds, early) or the previous one. The
speaker's pauses are found independently (worker.engine.vad: bidirectional Silero VAD, sharp at both edges),
and each pause is matched to the word boundary it belongs to:

- matching is monotonic (pauses and boundaries keep their order), one pause per boundary, and only
  within `max_distance` of the engine's boundary (plus a tie-breaker on how well the edges fit);
  it maximises Σ (reward(pause) − distance), where a longer pause earns more, so long pauses are
  matched from further away than short ones; a boundary after a sentence end (. ? ! and the like)
  is where a speaker pauses most, so it may reach further (`SENTENCE_REACH`) and earns a bonus: the
  engine's words drift most across short sentence gaps (bench: lecture_30, sentence boundaries
  within 200 ms 95.4 % → 97.0 %), and it wins a pause from a boundary up to a second nearer. That
  is for a pause before the engine's next word (the engine runs a sentence's last word late): a
  pause that starts after the next word has started, nearer to a boundary further on, is that
  boundary's (with the reach and the bonus, a sentence end took the pause of a clause end three
  words on, crushing those words: bench/README.md, "A sentence end reaching forward");
- a brief gap (a dip as deep as a pause but too short for one: two sentences said close together)
  is offered to sentence ends only, within `BRIEF_REACH`;
- a matched boundary becomes the pause: the word before ends where the pause starts, the word after
  starts where it ends; the words in between keep the engine's inner boundaries, clamped between
  the new outer ones, with a minimum word duration.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from worker.engine.anchors import boundary_cost
from worker.engine.fidelity import TimedWord
from worker.engine.vad import Pause

MIN_WORD_SECONDS = 0.04
EDGE_WEIGHT = 0.1
SENTENCE_REACH = 1.5  # seconds a sentence end may be moved to a pause (other boundaries: max_distance)
# Added to the reward of a pause matched at a sentence end. 1.0 rather than 0.5: where the engine runs a
# sentence's last word late, the pause lies in the gap before it, and 0.5 let that gap keep it
# (bench/README.md, "The sentence-end bonus": lecture_60 98.1 → 98.3 %, 10 dB 93.9 → 94.6 %).
SENTENCE_BONUS = 1.0
# A brief gap (worker.engine.vad.BRIEF_DEPTH: a dip too short for a pause) is offered to sentence ends
# only, within this many seconds: at 10 dB and at 40-60 min the engine runs a sentence's last word
# 0.5-1 s late across such gaps (bench/README.md, "… brief gaps between sentences").
BRIEF_REACH = 1.0


def _gap(words: Sequence[TimedWord], k: int) -> tuple[float, float]:
    """The engine's boundary k (before word k; k == len(words) is after the last word)."""
    if k == 0:
        return words[0].start, words[0].start
    if k == len(words):
        return words[-1].end, words[-1].end
    return words[k - 1].end, words[k].start


def pause_distance(pause: Pause, gap: tuple[float, float], edge_weight: float = EDGE_WEIGHT) -> float:
    """How far the engine's boundary is from the pause: 0 when they overlap, plus a small term for
    how far their edges are apart, so a pause overlapping two gaps goes to the one it fits best."""
    apart = max(0.0, pause.start - gap[1], gap[0] - pause.end)
    return apart + edge_weight * (abs(pause.start - gap[0]) + abs(pause.end - gap[1]))


class _PrefixMax:
    """Fenwick tree: best (score, backpointer) over boundary indexes < k."""

    def __init__(self, size: int) -> None:
        self._tree: list[tuple[float, int]] = [(0.0, -1)] * (size + 1)

    def update(self, index: int, value: tuple[float, int]) -> None:
        i = index + 1
        while i < len(self._tree):
            if value[0] > self._tree[i][0]:
                self._tree[i] = value
            i += i & -i

    def query(self, index: int) -> tuple[float, int]:
        """Best over indexes < index."""
        best, i = (0.0, -1), index
        while i > 0:
            if self._tree[i][0] > best[0]:
                best = self._tree[i]
            i -= i & -i
        return best


def match_pauses(
    words: Sequence[TimedWord],
    pauses: Sequence[Pause],
    max_distance: float = 0.6,
    reward_base: float = 0.1,
    reward_per_second: float = 1.0,
    sentence_reach: float = SENTENCE_REACH,
    sentence_bonus: float = SENTENCE_BONUS,
    brief: Sequence[Pause] = (),
    brief_reach: float = BRIEF_REACH,
) -> dict[int, Pause]:
    """Boundary index → the pause it becomes (monotonic, one each, maximising reward − distance);
    `brief` gaps may become sentence ends only."""
    if not words or not (pauses or brief):
        return {}
    boundaries = len(words) + 1
    gaps = [_gap(words, k) for k in range(boundaries)]
    lefts = [g[0] for g in gaps]  # non-decreasing when the engine's words are monotonic
    sentence_end = [
        0 < k < boundaries - 1 and boundary_cost(words[k - 1].word) == 0.0 for k in range(boundaries)
    ]
    widest = max(sentence_reach, max_distance) if any(sentence_end) else max_distance
    nodes: list[tuple[int, Pause, int]] = []  # (boundary, pause, backpointer node)
    best = _PrefixMax(boundaries)
    pending: list[tuple[int, tuple[float, int]]] = []
    offered = sorted([(p, False) for p in pauses] + [(p, True) for p in brief], key=lambda o: o[0].start)
    for pause, is_brief in offered:
        reward = reward_base + reward_per_second * min(pause.duration, 1.0)
        lo = max(bisect.bisect_left(lefts, pause.start - widest) - 1, 0)
        candidates = []
        for k in range(lo, boundaries):
            if gaps[k][0] > pause.end + widest:
                break
            d = pause_distance(pause, gaps[k])
            # a sentence end reaches further and earns more, but not for a pause after its next word
            # started that a boundary further on is nearer to
            further = sentence_end[k] and (
                pause.start <= gaps[k][1] or not _nearer_further_on(pause, gaps, k, d, widest)
            )
            if is_brief:  # a stop inside a word dips as briefly: only a sentence end may take one
                if not further:
                    continue
                reach = brief_reach
            else:
                reach = max(sentence_reach, max_distance) if further else max_distance
            gain = reward + (sentence_bonus if further else 0.0) - d
            if d <= reach and gain > 0:
                candidates.append((k, gain))
        # candidates of one pause must not chain with each other: query all before updating any
        for k, gain in candidates:
            previous_score, previous_node = best.query(k)
            nodes.append((k, pause, previous_node))
            pending.append((k, (previous_score + gain, len(nodes) - 1)))
        for k, value in pending:
            best.update(k, value)
        pending.clear()
    _, node = best.query(boundaries)
    matched: dict[int, Pause] = {}
    while node >= 0:
        k, pause, node = nodes[node]
        matched[k] = pause
    return matched


def _nearer_further_on(
    pause: Pause, gaps: Sequence[tuple[float, float]], k: int, distance: float, widest: float
) -> bool:
    """Whether a boundary after k is nearer to `pause` than `distance`."""
    for later in range(k + 1, len(gaps)):
        if gaps[later][0] > pause.end + widest:
            return False
        if pause_distance(pause, gaps[later]) < distance:
            return True
    return False


def snap_to_pauses(
    words: Sequence[TimedWord],
    pauses: Sequence[Pause],
    duration: float,
    max_distance: float = 0.6,
    brief: Sequence[Pause] = (),
) -> list[TimedWord]:
    """The words with each matched boundary moved onto its pause (see the module docstring); `brief`
    gaps may become sentence ends only."""
    if not words:
        return []
    matched = match_pauses(words, pauses, max_distance, brief=brief)
    starts = [w.start for w in words]
    ends = [w.end for w in words]
    fixed_start = [False] * len(words)
    fixed_end = [False] * len(words)
    for k, pause in matched.items():
        if k > 0:
            ends[k - 1], fixed_end[k - 1] = pause.start, True
        if k < len(words):
            starts[k], fixed_start[k] = min(pause.end, duration), True
    _make_consistent(starts, ends, fixed_start, fixed_end, duration)
    return [
        TimedWord(w.word, s, e, w.probability, w.spoken) for w, s, e in zip(words, starts, ends, strict=True)
    ]


def _make_consistent(
    starts: list[float], ends: list[float], fixed_start: list[bool], fixed_end: list[bool], duration: float
) -> None:
    """Monotonic, non-overlapping words of at least MIN_WORD_SECONDS where room allows; the snapped
    (fixed) boundaries win over the engine's, which are clamped between them."""
    n = len(starts)
    # forward: nothing starts before the previous word's start + minimum (unless pinned by a pause)
    floor = 0.0
    for i in range(n):
        if not fixed_start[i]:
            starts[i] = max(starts[i], floor)
        if not fixed_end[i]:
            ends[i] = max(ends[i], starts[i] + MIN_WORD_SECONDS)
        floor = ends[i]
        if i + 1 < n and not fixed_start[i + 1]:
            floor = max(floor, starts[i] + MIN_WORD_SECONDS)
    # backward: nothing ends after the next word's start (pauses win over the forward push)
    ceiling = duration
    for i in range(n - 1, -1, -1):
        ends[i] = min(ends[i], ceiling)
        starts[i] = min(starts[i], max(ends[i] - MIN_WORD_SECONDS, 0.0))
        ceiling = starts[i]
    for i in range(n):  # a pinned start can overlap a shrunk predecessor only if room ran out
        if i and starts[i] < ends[i - 1]:
            starts[i] = ends[i - 1]
        ends[i] = max(ends[i], starts[i])


def shift_words(words: Sequence[TimedWord], seconds: float, duration: float) -> list[TimedWord]:
    """Every word moved by `seconds` (a calibrated bias of the engine), kept inside [0, duration]."""
    return [
        TimedWord(
            w.word,
            min(max(w.start + seconds, 0.0), duration),
            min(max(w.end + seconds, 0.0), duration),
            w.probability,
            w.spoken,
        )
        for w in words
    ]

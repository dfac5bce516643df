"""Aligning long audio in pieces anchored on the speaker's long pauses, so one failure cannot drag the rest.

stable-ts aligns a long recording window by window, each window getting the next `token_step` tokens;
when a window's text and audio disagree (a long pause, a passage the model hears poorly), the words
are squeezed or stretched and the error is carried into every later window (we measured sentences
16 s off on 6.5 min of synthetic Hebrew). Here:

1. the speaker's pauses (VAD, ≥ `anchor_pause` s) are placed at word boundaries by a dynamic
   programme (`length_anchors`): the speech between two placed pauses must match the length of the
   text between them, sentence and clause ends are preferred, and where a first stable-ts pass is
   confident, the boundary it found is preferred; each placed pause is an anchor: the text before
   it belongs to the audio before it;
3. the anchors cut the recording into pieces, merged into windows of at most `window` seconds, and
   each window is aligned again on its own with exactly its own words.

A window's error stays inside the window. Anchored only on the text's length, real speech with
fillers and no punctuation is misplaced (bench: en_mfa_concatenated); the first pass fixes that
at the cost of one more (fast_mode) stable-ts pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from worker.engine.fidelity import TimedWord
from worker.engine.refine import pause_distance
from worker.engine.vad import Pause

SAMPLE_RATE = 16_000

# [(audio piece, its words), ...] -> for each piece exactly its words, timed relative to the piece.
# All pieces come in one call so the engine can batch them through the model.
PieceAligner = Callable[[Sequence[tuple[np.ndarray, list[str]]]], list[list[TimedWord]]]


def windows(
    cuts: Sequence[tuple[int, Pause]], words: int, duration: float, window: float = 28.0
) -> list[tuple[int, int, float, float]]:
    """(first word, end word, start s, end s) of each window: anchored pieces merged up to `window` s."""
    # piece i runs from the end of cut i-1's pause to the start of cut i's pause
    points: list[tuple[int, float, float]] = [(0, 0.0, 0.0)]  # (boundary, pause start, pause end)
    points += [(k, p.start, p.end) for k, p in cuts if 0 < k < words]
    points.append((words, duration, duration))
    head = next((p for k, p in cuts if k == 0), None)
    tail = next((p for k, p in cuts if k == words), None)
    if head is not None:
        points[0] = (0, head.start, head.end)
    if tail is not None:
        points[-1] = (words, tail.start, tail.end)
    out = []
    i = 0
    while i < len(points) - 1:
        j = i + 1
        while j + 1 < len(points) and points[j + 1][1] - points[i][2] <= window:
            j += 1
        out.append((points[i][0], points[j][0], points[i][2], points[j][1]))
        i = j
    return out


def align_in_windows(
    samples: np.ndarray,
    words: list[str],
    first_pass: Sequence[TimedWord],
    pauses: Sequence[Pause],
    align_pieces: PieceAligner,
    anchor_pause: float = 0.2,
    window: float = 4.0,
    pad: float = 0.25,
) -> list[TimedWord]:
    """Every word of `words`, re-aligned window by window between anchored pauses."""
    duration = len(samples) / SAMPLE_RATE
    cuts = length_anchors(words, pauses, duration, anchor_pause, evidence=first_pass or None)
    spans = windows(cuts, len(words), duration, window)
    if len(spans) <= 1:
        return list(first_pass) if first_pass else align_pieces([(samples, words)])[0]
    offsets = [max(start_s - pad, 0.0) for _, _, start_s, _ in spans]
    pieces = [
        (samples[int(lo * SAMPLE_RATE) : int(min(end_s + pad, duration) * SAMPLE_RATE)], words[first:end])
        for lo, (first, end, _, end_s) in zip(offsets, spans, strict=True)
    ]  # views into `samples`, not copies
    out: list[TimedWord] = []
    for lo, timed in zip(offsets, align_pieces(pieces), strict=True):
        floor = out[-1].end if out else 0.0  # windows overlap by their padding: keep words in order
        for w in timed:
            start = max(w.start + lo, floor)
            out.append(TimedWord(w.word, start, max(w.end + lo, start), w.probability))
            floor = out[-1].end
    return out


# --- anchors from the text's length and punctuation (no model) ---------------------------------------

_SENTENCE_END = tuple(".?!:׃")
_CLAUSE_END = tuple(",;־–-")


def _units(word: str) -> int:
    """Spoken length of a word, in letters (+1 for the transition)."""
    return sum(ch.isalnum() for ch in word) + 1


def _boundary_cost(word_before: str) -> float:
    stripped = word_before.rstrip("\"'”’)]»")
    if stripped.endswith(_SENTENCE_END):
        return 0.0
    if stripped.endswith(_CLAUSE_END):
        return 0.7
    return 2.0


def length_anchors(
    words: Sequence[str],
    pauses: Sequence[Pause],
    duration: float,
    anchor_pause: float = 0.5,
    max_skip: int = 3,
    max_words: int = 150,
    evidence: Sequence[TimedWord] | None = None,
    evidence_weight: float = 10.0,
    evidence_cap: float = 2.0,
) -> list[tuple[int, Pause]]:
    """Match long pauses to word boundaries from the text alone (a Gale–Church-style length model).

    Each long pause is placed at a word boundary (sentence ends cheapest, then clause ends) or
    skipped (a pause inside speech: costly, more so the longer it is); the speech between two placed
    pauses must match the length of the text between them at the recording's average rate.
    With `evidence` (a first alignment pass: exactly `words`, timed), placing a pause far from where
    that pass put the boundary costs `evidence_weight` × (the pass's confidence there) × distance
    (capped at `evidence_cap` s): a confident model overrides the length model, a lost one cannot.
    Returns (boundary, pause) for each placed pause, in order.
    """
    long = [p for p in pauses if p.duration >= anchor_pause]
    n = len(words)
    if not long or n < 2:
        return []
    units = np.concatenate([[0], np.cumsum([_units(w) for w in words])]).astype(np.float64)
    bcost = np.array([0.0] + [_boundary_cost(w) for w in words[:-1]] + [0.0])
    # speech time before t: t minus the pauses before it
    p_start = np.array([p.start for p in pauses])
    p_end = np.array([p.end for p in pauses])

    def speech(t: float) -> float:
        inside = np.clip(np.minimum(p_end, t) - p_start, 0.0, None)
        return t - float(inside.sum())

    head = long[0] if long[0].start <= 0.05 else None
    tail = long[-1] if long[-1].end >= duration - 0.05 else None
    inner = [p for p in long if p is not head and p is not tail]
    rate = max(speech(duration), 1e-3) / units[-1]  # seconds per unit
    # the chain: start (boundary 0), inner pauses (placed or skipped), end (boundary n)
    chain = [Pause(0.0, head.end if head else 0.0), *inner, Pause(tail.start if tail else duration, duration)]
    m_count = len(chain)
    s_end = np.array([speech(p.end) for p in chain])  # speech time where each pause ends
    s_start = np.array([speech(p.start) for p in chain])
    skip_cost = np.array([3.0 * min(p.duration, 2.0) for p in chain])
    inf = np.inf
    best: list[dict[int, tuple[float, int, int]]] = [dict() for _ in range(m_count)]  # k -> (cost, m', k')
    best[0][0] = (0.0, -1, -1)
    for m in range(1, m_count):
        last = m == m_count - 1
        expected = s_start[m] / rate
        band = max(150.0, 0.25 * expected)
        if last:
            ks = np.array([n])
        else:
            lo, hi = np.searchsorted(units, [expected - band, expected + band])
            ks = np.arange(max(lo, 1), min(hi, n - 1) + 1)
        if ks.size == 0:
            continue
        totals = np.full(ks.size, inf)
        back_m = np.full(ks.size, -1)
        back_k = np.full(ks.size, -1)
        for m_prev in range(max(0, m - 1 - max_skip), m):
            if not best[m_prev]:
                continue
            skipped = float(skip_cost[m_prev + 1 : m].sum())
            prev_k = np.fromiter(best[m_prev].keys(), dtype=np.int64)
            prev_c = np.array([v[0] for v in best[m_prev].values()])
            d_speech = max(s_start[m] - s_end[m_prev], 1e-3)
            # (ks × prev) costs, only forward and at most max_words apart
            text = units[ks][:, None] - units[prev_k][None, :]
            n_words = ks[:, None] - prev_k[None, :]
            valid = (n_words > 0) & (n_words <= max_words)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.log(d_speech / (rate * np.where(valid, text, 1.0)))
            sigma2 = 0.3**2 + 0.5 / np.maximum(n_words, 1)
            cost = np.where(valid, prev_c[None, :] + ratio**2 / (2 * sigma2) + skipped, inf)
            j = np.argmin(cost, axis=1)
            c = cost[np.arange(ks.size), j]
            better = c < totals
            totals[better], back_m[better], back_k[better] = c[better], m_prev, prev_k[j[better]]
        if not last:
            totals += bcost[ks] * min(chain[m].duration, 2.0)
            if evidence is not None:
                totals += _evidence_cost(evidence, chain[m], ks, evidence_weight, evidence_cap)
        for k, c, bm, bk in zip(ks, totals, back_m, back_k, strict=True):
            if np.isfinite(c):
                best[m][int(k)] = (float(c), int(bm), int(bk))
    if n not in best[-1]:
        return []
    out: list[tuple[int, Pause]] = []
    m, k = m_count - 1, n
    while m > 0:
        _, m_prev, k_prev = best[m][k]
        if 0 < m < m_count - 1:
            out.append((k, chain[m]))
        m, k = m_prev, k_prev
    if head:
        out.append((0, head))
    if tail:
        out.append((n, tail))
    return sorted(out, key=lambda item: item[0])


def _evidence_cost(
    evidence: Sequence[TimedWord], pause: Pause, ks: np.ndarray, weight: float, cap: float
) -> np.ndarray:
    out = np.empty(ks.size)
    for i, k in enumerate(ks):
        gap = (evidence[k - 1].end, evidence[k].start)
        # the pass's confidence around the boundary (single words, fillers especially, score ~0)
        confidence = float(np.median([w.probability for w in evidence[max(k - 3, 0) : k + 3]]))
        out[i] = weight * confidence * min(pause_distance(pause, gap, edge_weight=0.0), cap)
    return out

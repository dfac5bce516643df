"""Aligning long audio in pieces anchored on the speaker's long pauses, so one failure cannot drag the rest.

stable-ts aligns a long recording window by window, each window getting the next `token_step` tokens;
when a window's text and audio disagree (a long pause, a passage the model hears poorly), the words
are squeezed or stretched and the error is carried into every later window (we measured sentences
16 s off on 6.5 min of synthetic Hebrew). Here:

1. the speaker's pauses (VAD, ≥ `anchor_pause` s) are placed at word boundaries by a dynamic
   programme (`worker.engine.anchors.place_pauses`): the speech between two placed pauses must match
   the length of the text between them at the speaker's local rate, sentence and clause ends are
   preferred, and where a first stable-ts pass is confident, the boundary it found is preferred;
   each placed pause is an anchor: the text before it belongs to the audio before it; stretches
   where speech and text disagree badly are reported (`doubtful_stretches`), not hidden; where the
   first pass moved pauses off the boundaries the rate alone gives them, the placement whose pieces
   the model hears better is kept (a first pass can hear a stretch a sentence late);
2. the anchors cut the recording into pieces, merged into windows of at most `window` seconds, and
   each window is aligned again on its own with exactly its own words;
3. a window whose words come out squeezed holds text its audio does not, and a window whose audio
   holds speech beyond its last (or before its first) word lacks text: the cuts there are tried at
   the nearest sentence and clause ends (`worker.engine.recheck`).

A window's error stays inside the window. Anchored only on the text's length, real speech with
fillers and no punctuation is misplaced (bench: en_mfa_concatenated); the first pass fixes that
at the cost of one more (fast_mode) stable-ts pass, trusted only where it agrees with the speaking
rate (worker.engine.first_pass: over long recordings it drifts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from worker.engine.anchors import Anchoring, Cut, boundary_points, place_pauses
from worker.engine.fidelity import TimedWord
from worker.engine.first_pass import trusted_evidence
from worker.engine.recheck import Span, recheck_cuts, recheck_edges, settle_disagreements
from worker.engine.vad import Pause, speech_between

SAMPLE_RATE = 16_000

# [(audio piece, its words), ...] -> for each piece exactly its words, timed relative to the piece.
# All pieces come in one call so the engine can batch them through the model.
PieceAligner = Callable[[Sequence[tuple[np.ndarray, list[str]]]], list[list[TimedWord]]]


def windows(cuts: Sequence[Cut], words: int, duration: float, window: float = 28.0) -> list[Span]:
    """(first word, end word, start s, end s) of each window: anchored pieces merged up to `window` s
    (several pauses at one boundary act as one: `anchors.boundary_points`)."""
    # piece i runs from the end of the pauses at one boundary to the start of those at the next
    points = boundary_points(cuts)
    if not points or points[0][0] != 0:
        points.insert(0, (0, 0.0, 0.0))
    if points[-1][0] != words:
        points.append((words, duration, duration))
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
    rate_only: Anchoring | None = None,
) -> tuple[list[TimedWord], list[Doubt]]:
    """Every word of `words`, re-aligned window by window between anchored pauses; and the stretches
    whose placement the anchoring doubts (`rate_only`: the anchoring without a first pass, if the
    caller has it already)."""
    duration = len(samples) / SAMPLE_RATE

    def padded_start(span: Span) -> float:
        return max(span[2] - pad, 0.0)

    def align_spans(chosen: Sequence[Span]) -> list[list[TimedWord]]:
        pieces = [
            (
                samples[
                    int(padded_start(span) * SAMPLE_RATE) : int(min(span[3] + pad, duration) * SAMPLE_RATE)
                ],
                words[span[0] : span[1]],
            )
            for span in chosen
        ]  # views into `samples`, not copies
        return align_pieces(pieces)

    if rate_only is None:
        rate_only = place_pauses(words, pauses, duration, anchor_pause)
    anchoring, cuts = rate_only, rate_only.cuts
    if first_pass:
        evidence = trusted_evidence(words, first_pass, pauses, duration, anchor_pause, rate_only=rate_only)
        anchoring = place_pauses(words, pauses, duration, anchor_pause, evidence=evidence)
        cuts = anchoring.cuts
        if duration > window:  # in one window the cuts are unused
            cuts = settle_disagreements(words, cuts, rate_only.cuts, duration, align_spans)
    doubts = doubtful_stretches(anchoring)
    spans = windows(cuts, len(words), duration, window)
    if len(spans) <= 1:
        return (list(first_pass) if first_pass else align_pieces([(samples, words)])[0]), doubts

    aligned = align_spans(spans)
    recheck_cuts(words, spans, aligned, align_spans)
    recheck_edges(words, spans, aligned, align_spans, speech_between(list(pauses), duration), pad)
    out: list[TimedWord] = []
    for lo, timed in zip(map(padded_start, spans), aligned, strict=True):
        floor = out[-1].end if out else 0.0  # windows overlap by their padding: keep words in order
        for w in timed:
            start = max(w.start + lo, floor)
            out.append(TimedWord(w.word, start, max(w.end + lo, start), w.probability, w.spoken))
            floor = out[-1].end
    return out, doubts


# (start s, end s, first word, end word, reason)
Doubt = tuple[float, float, int, int, str]

DOUBT_RATIO = 0.7  # |log(speech / text length at the local rate)| beyond this: ×2 off
DOUBT_WORDLESS_SECONDS = 8.0  # speech in a stretch holding no text beyond this: the text may lack it


def doubtful_stretches(anchoring: Anchoring) -> list[Doubt]:
    """Stretches between placed pauses whose speech and text disagree in length by more than ×2 (the
    words there may be misplaced), or long speech the text does not hold; neighbours merged."""
    out: list[Doubt] = []
    for first, end, start_s, end_s, ratio in anchoring.stretches:
        if first == end:
            if end_s - start_s < DOUBT_WORDLESS_SECONDS:
                continue
            reason = "speech the text does not hold"
        elif abs(ratio) > DOUBT_RATIO:
            reason = "text and speech lengths disagree"
        else:
            continue
        if out and out[-1][1] >= start_s - 1.0 and out[-1][4] == reason:
            out[-1] = (out[-1][0], end_s, out[-1][2], end, reason)
        else:
            out.append((start_s, end_s, first, end, reason))
    return out

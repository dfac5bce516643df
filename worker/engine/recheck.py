"""A second look at a cut whose window came out squeezed: the anchoring checked against the audio.

The anchoring places each pause at a word boundary from the text's length, the speaking rate and a
first pass; where sentences of similar length follow each other it can pick a neighbouring sentence
end, and its window then holds a sentence too many (or too few). stable-ts still places every word
of a window inside it, so the text a window has too much of comes out squeezed: a run of words of a
few milliseconds each (on lecture_60 a wrong cut packed 25 words into 1 s, 10 s off the truth).
Such a run is the audio's own verdict on the cut. For a window with `SUSPECT_WORDS` squeezed words
(more than a sentence: smaller runs come as often from the model misplacing words in a window whose
cuts are right), each of its two cuts is moved in turn to the nearest sentence and clause ends around
it, the two windows on either side are aligned again, and the move that leaves the fewest squeezed
words wins if it removes at least half the suspect count and the model hears the words no worse
there (`log_probability`). Only which words fall between two pauses changes, never the pauses.
Measured on the bench's lectures: bench/README.md, "… a second look at squeezed windows".

A cut a few words off squeezes too few words to count, but leaves a trace at the cut itself: the
window that lacks the words ends its last word well before its audio ends (or the one after starts
its first word well after its audio starts), and the VAD hears speech in between (on lecture_60, a
cut 6 words early left 1.1 s of speech after the last word). Where that speech is at least
`EDGE_SPEECH_SECONDS`, the cut is tried at the nearest sentence and clause ends on that side; the
nearest one that leaves no such speech, squeezes no more words and that the model hears no worse
is taken (`recheck_edges`). Speech the text does not hold (a filler before a pause) has no such
end to move to, or the model hears the moved words worse there, so it stays.

Before any window is aligned, the anchoring is checked against the anchoring from the speaking
rate alone: a first pass that heard a stretch a sentence late pulls its pauses one sentence on, and
where the two disagree the audio decides (`settle_disagreements`): between two pauses both place
alike, the words are aligned piece by piece (pause to pause) as each placed them, and the placement
whose pieces the model hears better is kept (the first pass's on a tie).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from worker.engine.anchors import Cut, boundary_cost, boundary_points
from worker.engine.fidelity import TimedWord
from worker.engine.vad import Pause

log = logging.getLogger(__name__)

SQUEEZED_SECONDS = 0.05  # a word this short was pressed in, not said ...
SQUEEZE_RUN = 4  # ... when this many such words follow each other
SUSPECT_WORDS = 12  # squeezed words in a window that make both its cuts worth a second look
PROBABILITY_FLOOR = 1e-4  # a word's probability, floored before its log is summed
NEAREST_ENDS = 4  # sentence and clause ends tried on each side of a cut ...
MOVE_WORDS = 30  # ... at most this many words away
# Speech heard between a window's edge word and its cut beyond this: the cut may be words off. Fillers
# before a pause are shorter; on the bench's lectures 2 % of cuts reach it (bench/README.md).
EDGE_SPEECH_SECONDS = 0.6
# A disagreement longer than this is not settled: there the rate alone has lost the text (real speech
# with fillers and no punctuation: the whole 74 s of en_mfa_concatenated is one), and checking it
# would align that much audio twice more. On the synthetic lectures the longest is 20 s.
MAX_PLACE_SECONDS = 30.0

# (first word, end word, start s, end s) of a window
Span = tuple[int, int, float, float]
# Aligns each window's words inside its audio (times relative to the start of the audio it was given:
# the window's start less the caller's padding).
SpanAligner = Callable[[Sequence[Span]], list[list[TimedWord]]]
# Where the VAD hears speech: (start s, end s), in time order (or an array of such rows).
Speech = Sequence[tuple[float, float]] | np.ndarray


def squeezed(timed: Sequence[TimedWord]) -> int:
    """Words in runs of at least `SQUEEZE_RUN` consecutive words each shorter than `SQUEEZED_SECONDS`."""
    short = [w.end - w.start <= SQUEEZED_SECONDS for w in timed]
    total = run = 0
    for is_short in [*short, False]:
        if is_short:
            run += 1
            continue
        total += run if run >= SQUEEZE_RUN else 0
        run = 0
    return total


def log_probability(timed: Sequence[TimedWord]) -> float:
    """How well the model hears these words where they were put: the sum of their log probabilities
    (the same words over the same audio compare across ways of cutting them)."""
    return float(sum(np.log(max(w.probability, PROBABILITY_FLOOR)) for w in timed))


def candidate_boundaries(words: Sequence[str], first: int, end: int, at: int) -> list[int]:
    """Sentence and clause ends strictly inside (first, end), nearest to `at` on each side."""
    ends = [k for k in range(max(first + 1, at - MOVE_WORDS), min(end, at + MOVE_WORDS + 1)) if k != at]
    ends = [k for k in ends if boundary_cost(words[k - 1]) < 2.0]  # sentence (0) and clause (0.7) ends
    before = sorted((k for k in ends if k < at), reverse=True)[:NEAREST_ENDS]
    after = sorted(k for k in ends if k > at)[:NEAREST_ENDS]
    return before + after


def _movable(spans: Sequence[Span], j: int) -> bool:
    """Whether the cut between windows j and j + 1 may move: a window the anchoring left wordless
    (music, a filler) stays so."""
    (first, at, _, _), (_, end, _, _) = spans[j], spans[j + 1]
    return first != at and at != end


def _moved(spans: Sequence[Span], j: int, k: int) -> tuple[Span, Span]:
    """Windows j and j + 1 with the cut between them at boundary k (their audio unchanged)."""
    (first, _, start_a, end_a), (_, end, start_b, end_b) = spans[j], spans[j + 1]
    return (first, k, start_a, end_a), (k, end, start_b, end_b)


def _pair(
    measure: Callable[[Sequence[TimedWord]], float], left: Sequence[TimedWord], right: Sequence[TimedWord]
) -> float:
    """`measure` (squeezed words, log probability) over two neighbouring windows together."""
    return measure(left) + measure(right)


def recheck_cuts(
    words: Sequence[str], spans: list[Span], timed: list[list[TimedWord]], align: SpanAligner
) -> int:
    """Re-check the cuts around each squeezed window, in place (`spans` and `timed`); the cuts moved."""
    moved = 0
    for i in range(len(spans)):
        if squeezed(timed[i]) < SUSPECT_WORDS:
            continue
        trials: list[tuple[int, Span, Span]] = []  # (left window j of the pair j, j + 1; both spans)
        for j in (i - 1, i):
            if j < 0 or j + 1 >= len(spans) or not _movable(spans, j):
                continue
            for k in candidate_boundaries(words, spans[j][0], spans[j + 1][1], spans[j][1]):
                trials.append((j, *_moved(spans, j, k)))
        if not trials:
            continue
        aligned = align([span for _, left, right in trials for span in (left, right)])
        now = {j: _pair(squeezed, timed[j], timed[j + 1]) for j, _, _ in trials}
        gains = [
            now[j] - _pair(squeezed, aligned[2 * t], aligned[2 * t + 1]) for t, (j, _, _) in enumerate(trials)
        ]
        best = int(np.argmax(gains))  # of equals, the first tried
        j, left, right = trials[best]
        heard_now = _pair(log_probability, timed[j], timed[j + 1])
        heard_then = _pair(log_probability, aligned[2 * best], aligned[2 * best + 1])
        if gains[best] < SUSPECT_WORDS / 2 or heard_then < heard_now:
            continue
        at_before = spans[j][1]
        spans[j], spans[j + 1] = left, right
        timed[j], timed[j + 1] = aligned[2 * best], aligned[2 * best + 1]
        moved += 1
        log.info(
            "moved the cut at %.1f s by %+d words (%d fewer squeezed)",
            left[3],
            left[1] - at_before,
            gains[best],
        )
    return moved


def speech_seconds(speech: Speech, start: float, end: float) -> float:
    """Seconds of `speech` between `start` and `end`."""
    spans = np.asarray(speech, dtype=np.float64).reshape(-1, 2)
    if end <= start or not len(spans):
        return 0.0
    return float(np.clip(np.minimum(spans[:, 1], end) - np.maximum(spans[:, 0], start), 0.0, None).sum())


def edge_speech(
    left: Span,
    right: Span,
    timed_left: Sequence[TimedWord],
    timed_right: Sequence[TimedWord],
    speech: Speech,
    pad: float,
) -> tuple[float, float]:
    """Speech heard after the left window's last word until its end, and from the right window's
    start until its first word (`pad`: how much earlier than its start each window's audio began)."""
    tail = speech_seconds(speech, timed_left[-1].end + max(left[2] - pad, 0.0), left[3])
    head = speech_seconds(speech, right[2], timed_right[0].start + max(right[2] - pad, 0.0))
    return tail, head


def recheck_edges(
    words: Sequence[str],
    spans: list[Span],
    timed: list[list[TimedWord]],
    align: SpanAligner,
    speech: Speech,
    pad: float = 0.0,
) -> int:
    """Re-check each cut with speech and no words beside it (see the module docstring), in place; the
    cuts moved."""
    moved = tried = 0
    speech = np.asarray(speech, dtype=np.float64).reshape(-1, 2)  # once, not per cut
    for j in range(len(spans) - 1):
        if not _movable(spans, j):
            continue
        first, at, _, end_a = spans[j]
        tail, head = edge_speech(spans[j], spans[j + 1], timed[j], timed[j + 1], speech, pad)
        if max(tail, head) < EDGE_SPEECH_SECONDS:
            continue
        later = tail >= head  # the left window lacks words: move the cut later (else earlier)
        ks = sorted(
            (k for k in candidate_boundaries(words, first, spans[j + 1][1], at) if (k > at) == later),
            key=lambda k: abs(k - at),
        )
        if not ks:
            continue
        trials = [_moved(spans, j, k) for k in ks]
        aligned = align([span for pair in trials for span in pair])
        tried += 1
        squeezed_now = _pair(squeezed, timed[j], timed[j + 1])
        heard_now = _pair(log_probability, timed[j], timed[j + 1])
        for t, (left, right) in enumerate(trials):
            timed_left, timed_right = aligned[2 * t], aligned[2 * t + 1]
            if (
                max(edge_speech(left, right, timed_left, timed_right, speech, pad)) < EDGE_SPEECH_SECONDS
                and _pair(squeezed, timed_left, timed_right) <= squeezed_now
                and _pair(log_probability, timed_left, timed_right) >= heard_now
            ):
                spans[j], spans[j + 1] = left, right
                timed[j], timed[j + 1] = timed_left, timed_right
                moved += 1
                log.info("moved the cut at %.1f s by %+d words (speech beside it)", end_a, left[1] - at)
                break
    if tried:
        log.info("re-checked %d of %d cuts with speech beside them: %d moved", tried, len(spans) - 1, moved)
    return moved


def _pieces(cuts: Sequence[Cut], first: Cut, last: Cut) -> list[Span]:
    """The spans from pause to pause from `first` over `cuts` to `last`, as the windows group them."""
    pairs = itertools.pairwise(boundary_points([first, *cuts, last]))
    return [(k, k_next, end, start) for (k, _, end), (k_next, start, _) in pairs]


def _disagreements(
    cuts: Sequence[Cut], other: Sequence[Cut], words: int, duration: float
) -> Iterator[tuple[Cut, Cut, list[Cut], list[Cut]]]:
    """(first, last, `cuts` between them, `other`'s between them) for each two neighbouring cuts that
    both place alike (the recording's edges count as such) where the two differ in between."""
    shared = sorted(set(cuts) & set(other), key=lambda c: c[1].start)
    edges = [(0, Pause(0.0, 0.0)), *shared, (words, Pause(duration, duration))]
    for first, last in itertools.pairwise(edges):
        mine = [c for c in cuts if first[1].start < c[1].start < last[1].start]
        theirs = [c for c in other if first[1].start < c[1].start < last[1].start]
        if set(mine) != set(theirs):
            yield first, last, mine, theirs


def settle_disagreements(
    words: Sequence[str], cuts: Sequence[Cut], other: Sequence[Cut], duration: float, align: SpanAligner
) -> list[Cut]:
    """`cuts`, with `other`'s (the anchoring from the rate alone) wherever the two differ and the
    model hears `other`'s pieces better (see the module docstring). One `align` call for all."""
    found = list(_disagreements(cuts, other, len(words), duration))
    places = [p for p in found if p[1][1].start - p[0][1].end <= MAX_PLACE_SECONDS]
    if len(places) < len(found):
        log.info(
            "%d place(s) where the rate alone has lost the text left to the first pass",
            len(found) - len(places),
        )
    if not places:
        return list(cuts)
    # per place: the pieces as `cuts` place them, and as `other` does; pieces both share are heard
    # alike either way, so not aligned at all
    options: list[tuple[list[Span], list[Span]]] = []
    for first, last, mine, theirs in places:
        now, then = _pieces(mine, first, last), _pieces(theirs, first, last)
        options.append(([s for s in now if s not in then], [s for s in then if s not in now]))
    aligned = iter(align([span for pair in options for spans in pair for span in spans]))
    out, settled = list(cuts), 0
    for (first, last, mine, theirs), (now, then) in zip(places, options, strict=True):
        heard_now = [next(aligned) for _ in now]
        heard_then = [next(aligned) for _ in then]
        better = sum(map(log_probability, heard_then)) > sum(map(log_probability, heard_now))
        if not better or sum(map(squeezed, heard_then)) > sum(map(squeezed, heard_now)):
            continue
        out = sorted([c for c in out if c not in mine] + theirs, key=lambda c: (c[1].start, c[0]))
        settled += 1
        log.info(
            "placed the pauses from %.1f to %.1f s by the speaking rate (heard better)",
            first[1].end,
            last[1].start,
        )
    log.info(
        "the first pass moved pauses in %d places: %d settled by the speaking rate", len(places), settled
    )
    return out

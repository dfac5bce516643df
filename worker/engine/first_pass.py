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

On CTranslate2 the pass listens in 15 s chunks instead of stable-ts's 30 s (`hear`): the encoder's
attention is quadratic in the chunk, so two 15 s chunks cost 1.2 CPU s against 2.1 for one 30 s chunk
(Whisper base int8, 2 cores), and the pass as a whole ~25 % less, with word starts as good
(bench/README.md, "The first pass in 15 s chunks").

Over a whole lecture the pass loses its place all the same (on the 60-minute lecture it was 23 s
late at minute 19 and 250 s late at minute 47, so the gate zeroed it from minute 18 on). So it
listens to the recording in pieces of about `PIECE_SECONDS`, cut at the longest pauses that the
rate-only anchoring places at a sentence end (`pieces`, `heard_in_pieces`): each piece starts in
step, and no slip carries beyond one piece. On the 60-minute lecture the anchoring then places
99.4 % of its pauses at the true boundary, 1 more than 1 s off (97.4 % and 8 with one pass over the
whole recording); bench/README.md, "The first pass in pieces".
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from worker.engine.anchors import Anchoring, boundary_cost, place_pauses, units
from worker.engine.fidelity import TimedWord, reconcile
from worker.engine.vad import Pause

# The rate-only anchoring is within ~1 s of the truth for 90 % of words on every bench set; a first
# pass further from it than this is drifting, not hearing.
TOLERANCE_SECONDS = 4.0
CHUNK_SECONDS = 15.0  # audio per engine call (stable-ts `align()`: 30 s)
TOKEN_STEP = 100  # text tokens offered per chunk: about twice what 15 s of speech holds
PIECE_SECONDS = 45.0  # the pass restarts in step about this often (30 s to 2 min all help: bench/README.md)

# One first pass over a piece: its words (possibly re-split), times relative to the piece.
Listen = Callable[[np.ndarray, list[str]], list[TimedWord]]


def hear(
    model: Any,
    samples: np.ndarray,
    text: str,
    language: str,
    progress: Callable[[float, float], None] | None = None,
    **engine: Any,
) -> Any:
    """stable-ts `align()` (fast_mode) over the whole recording in `CHUNK_SECONDS` chunks, for a
    faster-whisper model: stable-ts's own `Aligner` and Whisper inference function, built as `align()`
    builds them but for the chunk length. Returns the stable-ts result (None: nothing aligned)."""
    import stable_whisper
    from stable_whisper.alignment import get_alignment_tokenizer, get_whisper_alignment_func
    from stable_whisper.options import AllOptions
    from stable_whisper.whisper_compatibility import SAMPLE_RATE, TOKENS_PER_SECOND, as_vanilla

    engine = {"fast_mode": True, **engine}
    vanilla = as_vanilla(model)
    tokenizer, _ = get_alignment_tokenizer(vanilla, True, text, language)
    own = inspect.signature(stable_whisper.Aligner).parameters  # fast_mode, nonspeech_skip, …
    options = AllOptions(
        {"verbose": None, "progress_callback": progress, **{k: v for k, v in engine.items() if k not in own}}
    )
    aligner = stable_whisper.Aligner(
        inference_func=get_whisper_alignment_func(vanilla, tokenizer, "fw", options),
        decode=tokenizer.decode,
        encode=tokenizer.encode,
        split_words_by_space=True,  # Hebrew, English: words are space-delimited
        sample_rate=SAMPLE_RATE,
        max_segment_length=int(CHUNK_SECONDS * SAMPLE_RATE),
        time_precision=1 / TOKENS_PER_SECOND,
        token_step=TOKEN_STEP,
        all_options=options,
        **{k: v for k, v in engine.items() if k in own},
    )
    return aligner.align(samples, text)


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
    rate_only: Anchoring | None = None,
) -> list[TimedWord]:
    """`first_pass` with probability 0 (no pull on the anchoring) wherever it strays from the rate
    (`rate_only`: the anchoring without evidence, when the caller has it already)."""
    if rate_only is None:
        rate_only = place_pauses(words, pauses, duration, anchor_pause)
    expected = implied_starts(rate_only, words, duration)
    return [
        w if abs(w.start - expected[i]) <= tolerance else dataclasses.replace(w, probability=0.0)
        for i, w in enumerate(first_pass)
    ]


def pieces(
    anchoring: Anchoring, words: Sequence[str], duration: float, every: float = PIECE_SECONDS
) -> list[tuple[int, int, float, float]]:
    """(first word, end word, start s, end s) of pieces of about `every` s that together cover the
    recording and the text; each cut is the middle of the longest pause placed at a sentence end
    within `every` / 4 after the piece's length is reached (else of any placed pause within `every`
    / 2): long pauses at sentence ends are the placements the anchoring gets right most often."""
    placed = [(k, p) for k, p in anchoring.cuts if 0 < k < len(words)]
    cuts: list[tuple[int, float]] = []
    target = every
    while target < duration - every / 2:
        near = [(k, p) for k, p in placed if target <= p.start <= target + every / 4]
        candidates = [(k, p) for k, p in near if boundary_cost(words[k - 1]) == 0] or [
            (k, p) for k, p in placed if target <= p.start <= target + every / 2
        ]
        candidates = [(k, p) for k, p in candidates if not cuts or k > cuts[-1][0]]
        if not candidates:
            target += every / 4
            continue
        k, pause = max(candidates, key=lambda c: c[1].duration)
        cuts.append((k, (pause.start + pause.end) / 2))
        target = pause.end + every
    bounds = [(0, 0.0), *cuts, (len(words), duration)]
    return [(k1, k2, s1, s2) for (k1, s1), (k2, s2) in itertools.pairwise(bounds)]


def heard_in_pieces(
    listen: Listen,
    samples: np.ndarray,
    words: list[str],
    rate_only: Anchoring,
    sample_rate: int,
    every: float = PIECE_SECONDS,
) -> list[TimedWord]:
    """The first pass, piece by piece (`pieces`): exactly `words`, timed on the whole recording
    (words `listen` lost are spread with probability 0, reconcile's way: no pull on the anchoring)."""
    duration = len(samples) / sample_rate
    out: list[TimedWord] = []
    for first, end, start_s, end_s in pieces(rate_only, words, duration, every):
        piece = samples[int(start_s * sample_rate) : int(end_s * sample_rate)]
        timed, _ = reconcile(words[first:end], listen(piece, words[first:end]), len(piece) / sample_rate)
        out += [dataclasses.replace(w, start=w.start + start_s, end=w.end + start_s) for w in timed]
    return out

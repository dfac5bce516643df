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
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from worker.engine.anchors import Anchoring, place_pauses, units
from worker.engine.fidelity import TimedWord
from worker.engine.vad import Pause

# The rate-only anchoring is within ~1 s of the truth for 90 % of words on every bench set; a first
# pass further from it than this is drifting, not hearing.
TOLERANCE_SECONDS = 4.0
CHUNK_SECONDS = 15.0  # audio per engine call (stable-ts `align()`: 30 s)
TOKEN_STEP = 100  # text tokens offered per chunk: about twice what 15 s of speech holds


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
) -> list[TimedWord]:
    """`first_pass` with probability 0 (no pull on the anchoring) wherever it strays from the rate."""
    rate_only = place_pauses(words, pauses, duration, anchor_pause)
    expected = implied_starts(rate_only, words, duration)
    return [
        w if abs(w.start - expected[i]) <= tolerance else dataclasses.replace(w, probability=0.0)
        for i, w in enumerate(first_pass)
    ]

"""The alignment core: audio + corrected text → timed words carrying the text exactly.

One `Aligner` per process (the model loads once); the queue loop, the local CLI, the operator's
batch mode and the benchmark all call `Aligner.align`, so they publish the same thing.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from worker.audio import SAMPLE_RATE, load_audio
from worker.fidelity import Repairs, TimedWord, reconcile
from worker.models import load_model, resolve_model
from worker.settings import Backend, Device, Settings
from worker.text import line_ends, split_words

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float, float], None]  # (seconds done, seconds total)


@dataclass(frozen=True)
class AlignmentOptions:
    """How stable-ts aligns: the knobs the benchmark tunes (bench/ reports each configuration)."""

    language: str = "he"
    token_step: int = 200
    # Extra keyword arguments for stable-ts `align()` (e.g. nonspeech_skip, fast_mode, vad).
    engine: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> AlignmentOptions:
        return cls(language=settings.language, token_step=settings.token_step)


@dataclass(frozen=True)
class Alignment:
    words: list[TimedWord]
    line_ends: frozenset[int]  # indexes of words followed by a line break in the text
    duration: float
    language: str
    repairs: Repairs
    engine_words: int
    seconds: float  # wall time of the alignment itself
    model: str


class AlignmentFailed(Exception):
    """The engine could not align this input (a permanent failure of the job)."""


class Aligner:
    def __init__(self, model: Any, model_name: str, defaults: AlignmentOptions) -> None:
        self._model = model
        self.model_name = model_name
        self.defaults = defaults

    @classmethod
    def load(
        cls,
        model: str,
        backend: Backend,
        cache: Path,
        device: Device,
        compute_type: str,
        defaults: AlignmentOptions | None = None,
    ) -> Aligner:
        path = resolve_model(model, backend, cache)
        started = time.perf_counter()
        loaded = load_model(path, backend, device, compute_type)
        log.info("model ready in %.1f s", time.perf_counter() - started)
        return cls(loaded, f"{backend.value}:{model}", defaults or AlignmentOptions())

    @classmethod
    def from_settings(cls, settings: Settings) -> Aligner:
        return cls.load(
            settings.whisper_model,
            settings.whisper_backend,
            settings.whisper_cache,
            settings.device,
            settings.effective_compute_type,
            AlignmentOptions.from_settings(settings),
        )

    def align(
        self,
        audio: Path | np.ndarray,
        text: str,
        options: AlignmentOptions | None = None,
        progress: ProgressCallback | None = None,
    ) -> Alignment:
        options = options or self.defaults
        samples = load_audio(audio) if isinstance(audio, Path) else audio
        duration = len(samples) / SAMPLE_RATE
        words = split_words(text)
        started = time.perf_counter()
        # stable-ts draws a tqdm bar on stderr even with verbose=None; keep its real warnings as logs.
        with contextlib.redirect_stderr(io.StringIO()) as engine_stderr:
            result = self._model.align(
                samples,
                " ".join(words),
                language=options.language,
                token_step=options.token_step,
                verbose=None,
                progress_callback=progress,
                **options.engine,
            )
        for line in engine_stderr.getvalue().splitlines():
            if line.strip() and "\r" not in line and "it/s]" not in line and "sec/s]" not in line:
                log.warning("stable-ts: %s", line.strip())
        if result is None:
            raise AlignmentFailed("the engine could not align the text with the audio")
        engine_words = [
            TimedWord(w.word, float(w.start), float(w.end), float(w.probability))
            for segment in result.segments
            for w in segment.words
        ]
        timed, repairs = reconcile(words, engine_words, duration)
        seconds = time.perf_counter() - started
        if repairs.total:
            log.warning(
                "engine changed the text (%d inserted, %d dropped, %d re-split); repaired",
                repairs.inserted,
                repairs.dropped,
                repairs.resplit,
            )
        return Alignment(
            timed,
            line_ends(text),
            duration,
            options.language,
            repairs,
            len(engine_words),
            seconds,
            self.model_name,
        )

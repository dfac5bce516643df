"""The alignment core: audio + corrected text → timed words carrying the text exactly.

One `Aligner` per process (the model loads once); the queue loop, the local CLI, the operator's
batch mode and the benchmark all call `Aligner.align`, so they publish the same thing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from worker.engine.anchors import place_pauses
from worker.engine.batching import WindowEncoder, default_batch, encoder_outputs_kept
from worker.engine.chunking import align_in_windows
from worker.engine.evidence import Probe, probe_text
from worker.engine.fidelity import Repairs, TimedWord, reconcile
from worker.engine.first_pass import hear, heard_in_pieces
from worker.engine.models import load_model, resolve_model
from worker.engine.refine import shift_words, snap_to_pauses
from worker.engine.unsaid import mark_unsaid
from worker.engine.vad import find_silences, speech_between
from worker.engine.vad import warm_up as warm_up_vad
from worker.inputs.audio import SAMPLE_RATE, load_audio
from worker.inputs.text import line_ends, split_words
from worker.settings import Backend, Device, Settings

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float, float], None]  # (seconds done, seconds total)
CONFINED_MAX_SECONDS = 28.0  # windows up to this long are aligned in one confined pass


@dataclass(frozen=True)
class AlignmentOptions:
    """How stable-ts aligns: the knobs the benchmark tunes (bench/ reports each configuration)."""

    language: str = "he"
    token_step: int = 200
    # Extra keyword arguments for stable-ts `align()` (e.g. nonspeech_skip, fast_mode, vad).
    engine: dict[str, Any] = field(default_factory=dict)
    # Recordings at least this long are aligned in windows cut at long pauses (worker.engine.chunking);
    # None: one stable-ts pass over the whole recording.
    anchor_min_audio: float | None = 60.0
    anchor_pause: float = 0.2  # shortest pause (s) that may anchor a window cut
    anchor_window: float = 4.0  # longest window (s) that anchored pieces are merged into
    # Let a first stable-ts pass (fast_mode) vote where the long pauses fall (see worker.engine.chunking).
    anchor_first_pass: bool = True
    # Align each window with stable-ts `align_words` (the text confined to the window, no fallback
    # passes) rather than `align` (which can duplicate a word in its fallback).
    window_align_words: bool = True
    # Move word boundaries onto the pauses they fall in (worker.engine.refine); None: keep the engine's.
    snap_distance: float | None = 0.6
    # Added to the engine's word times before snapping (Whisper base puts boundaries in real English
    # speech ~60 ms early, but not in synthetic Hebrew: see bench/README.md before changing it).
    boundary_shift: float = 0.0
    # Take steady background noise out of what the VAD hears (worker.engine.denoise).
    vad_denoise: bool = True
    # Mark written words the speaker never said (worker.engine.unsaid; skipped where the model hears poorly).
    unsaid_check: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> AlignmentOptions:
        return cls(
            language=settings.language,
            token_step=settings.token_step,
            anchor_min_audio=settings.anchor_min_audio_seconds or None,
            anchor_pause=settings.anchor_pause_seconds,
            anchor_window=settings.anchor_window_seconds,
            snap_distance=settings.snap_distance_seconds or None,
            boundary_shift=settings.boundary_shift_seconds,
            vad_denoise=settings.vad_denoise,
            unsaid_check=settings.unsaid_check,
        )


@dataclass(frozen=True)
class SuspiciousRange:
    """A stretch whose timings the engine could not place confidently: reported, never hidden."""

    start: float  # seconds
    end: float
    first_word: int  # index of the first word in the range
    end_word: int  # one past the last word
    reason: str  # a short phrase a reviewer reads, e.g. "window failed to align"


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
    suspicious: tuple[SuspiciousRange, ...] = ()  # in time order
    # Where the VAD hears speech, (start, end) seconds in time order (None: not measured): the review
    # verdict compares it with where the words landed (speech with no words, words with no speech).
    speech: tuple[tuple[float, float], ...] | None = None
    # Text-match probes (worker.engine.evidence): does the audio say this text at all?
    probes: tuple[Probe, ...] = ()


@dataclass
class _RepairTally:
    """What reconciling every piece onto the text took, summed over the pieces."""

    engine_words: int = 0
    inserted: int = 0
    dropped: int = 0
    resplit: int = 0

    def add(self, repairs: Repairs, engine_words: int) -> None:
        self.engine_words += engine_words
        self.inserted += repairs.inserted
        self.dropped += repairs.dropped
        self.resplit += repairs.resplit

    @property
    def repairs(self) -> Repairs:
        return Repairs(self.inserted, self.dropped, self.resplit)


class AlignmentFailed(Exception):
    """The engine could not align this input (a permanent failure of the job)."""


class Aligner:
    def __init__(
        self,
        model: Any,
        model_name: str,
        defaults: AlignmentOptions,
        device: str = "cpu",
        encoder: WindowEncoder | None = None,
    ) -> None:
        self._model = model
        self.model_name = model_name
        self.defaults = defaults
        self._device = device  # where the VAD runs
        self.encoder = encoder  # batches the windows' encoder calls (None: one call per window)

    @classmethod
    def load(
        cls,
        model: str,
        backend: Backend,
        cache: Path,
        device: Device,
        compute_type: str,
        defaults: AlignmentOptions | None = None,
        cpu_threads: int = 0,
        encoder_batch: int = 0,
    ) -> Aligner:
        """`encoder_batch`: windows per encoder call (faster-whisper only); 0: by device (batching.py)."""
        path = resolve_model(model, backend, cache)
        started = time.perf_counter()
        loaded = load_model(path, backend, device, compute_type, cpu_threads)
        defaults = defaults or AlignmentOptions()
        if defaults.anchor_min_audio is not None or defaults.snap_distance:
            warm_up_vad(device.value)
        batch = encoder_batch or default_batch(device.value)
        encoder = WindowEncoder(loaded, batch) if backend is Backend.FASTER_WHISPER and batch > 1 else None
        log.info(
            "model ready in %.1f s (%d window(s) per encoder call)", time.perf_counter() - started, batch
        )
        return cls(loaded, f"{backend.value}:{model}", defaults, device.value, encoder)

    @classmethod
    def from_settings(cls, settings: Settings) -> Aligner:
        return cls.load(
            settings.whisper_model,
            settings.whisper_backend,
            settings.whisper_cache,
            settings.device,
            settings.effective_compute_type,
            AlignmentOptions.from_settings(settings),
            settings.cpu_threads,
            settings.encoder_batch,
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
        windowed = options.anchor_min_audio is not None and duration >= options.anchor_min_audio

        done = [0.0]  # seconds reported so far

        def still_at_start(*_: float) -> None:
            """Every pass reports here, so a progress callback that raises (a cancel hook) stops any."""
            if progress is not None:
                progress(done[0], duration)

        # Always: the review verdict's speech map comes from the same pauses (seconds for an hour).
        log.info("finding pauses in %.0f s of audio", duration)
        silences = find_silences(
            samples, device=self._device, check=still_at_start, denoise=options.vad_denoise
        )
        pauses = silences.pauses
        tally = _RepairTally()
        suspicious: list[SuspiciousRange] = []

        def reconciled(piece: np.ndarray, piece_words: list[str], engine: list[TimedWord]) -> list[TimedWord]:
            timed, fixed = reconcile(piece_words, engine, len(piece) / SAMPLE_RATE)
            tally.add(fixed, len(engine))
            return timed

        def align_piece(
            piece: np.ndarray, piece_words: list[str], report: ProgressCallback | None
        ) -> list[TimedWord]:
            return reconciled(piece, piece_words, self.engine_words(piece, piece_words, options, report))

        if windowed:

            def confined(piece: np.ndarray) -> bool:
                return options.window_align_words and len(piece) <= CONFINED_MAX_SECONDS * SAMPLE_RATE

            def windowed_pieces(pieces: Sequence[tuple[np.ndarray, list[str]]]) -> list[list[TimedWord]]:
                if self.encoder is not None:
                    self.encoder.plan(
                        [piece for piece, piece_words in pieces if piece_words and confined(piece)]
                    )
                try:
                    return [aligned_window(piece, piece_words) for piece, piece_words in pieces]
                finally:
                    if self.encoder is not None:
                        self.encoder.finish()

            def aligned_window(piece: np.ndarray, piece_words: list[str]) -> list[TimedWord]:
                if confined(piece):
                    timed = reconciled(piece, piece_words, self._confined_words(piece, piece_words, options))
                else:
                    timed = align_piece(piece, piece_words, still_at_start)
                if progress is not None and timed:
                    done[0] = min(tally.engine_words / max(len(words), 1) * duration, duration)
                    progress(done[0], duration)
                return timed

            first_pass: list[TimedWord] = []
            rate_only = None  # the anchoring on the rate alone: cuts the first pass, then gates it
            if options.anchor_first_pass:

                def listen(piece: np.ndarray, piece_words: list[str]) -> list[TimedWord]:
                    try:
                        return self.first_pass_words(piece, piece_words, options, still_at_start)
                    except AlignmentFailed:  # a piece it cannot align at all (a tone, music): no evidence
                        return []

                log.info("first pass over %.0f s of audio", duration)
                rate_only = place_pauses(words, pauses, duration, options.anchor_pause)
                first_pass = heard_in_pieces(listen, samples, words, rate_only, SAMPLE_RATE)
            log.info("aligning in windows")
            timed, doubts = align_in_windows(
                samples,
                words,
                first_pass,
                pauses,
                windowed_pieces,
                options.anchor_pause,
                window=options.anchor_window,
                rate_only=rate_only,
            )
            suspicious = [SuspiciousRange(*doubt) for doubt in doubts]
        else:
            log.info("aligning in one pass")
            timed = align_piece(samples, words, progress)
        if options.boundary_shift:
            timed = shift_words(timed, options.boundary_shift, duration)
        if options.snap_distance:
            timed = snap_to_pauses(timed, pauses, duration, options.snap_distance, brief=silences.brief)
        with self._encoder_outputs_kept():  # both checks align the same audio more than once
            if options.unsaid_check:
                still_at_start()
                timed = mark_unsaid(self._probe_words, samples, timed, options.language)
            still_at_start()
            log.info("probing the text against the speech")
            probes = probe_text(self._probe_words, samples, timed, options.language)
        repairs = tally.repairs
        engine_word_count = tally.engine_words
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
            engine_word_count,
            seconds,
            self.model_name,
            tuple(suspicious),
            speech=speech_between(silences.all, duration),
            probes=probes,
        )

    def _confined_words(
        self, samples: np.ndarray, words: list[str], options: AlignmentOptions
    ) -> list[TimedWord]:
        """stable-ts `align_words`: all of `words` inside `samples`, one pass, no fallback."""
        segment = [{"start": 0.0, "end": len(samples) / SAMPLE_RATE, "text": " ".join(words)}]
        with _quiet_engine():
            result = self._model.align_words(
                samples, segment, options.language, verbose=None, **options.engine
            )
        return _timed_words(result)

    @property
    def _on_faster_whisper(self) -> bool:
        return self.model_name.startswith(f"{Backend.FASTER_WHISPER.value}:")

    def _encoder_outputs_kept(self) -> contextlib.AbstractContextManager[None]:
        """faster-whisper: the encoder's outputs reused within the block (batching.encoder_outputs_kept);
        the openai backend encodes inside stable-ts."""
        return encoder_outputs_kept(self._model) if self._on_faster_whisper else contextlib.nullcontext()

    def _probe_words(self, samples: np.ndarray, segments: list[dict[str, Any]], language: str) -> Any:
        """stable-ts `align_words` over given segments, one result segment per given one."""
        with _quiet_engine():
            return self._model.align_words(samples, segments, language, verbose=None, regroup=False)

    def first_pass_words(
        self,
        samples: np.ndarray,
        words: list[str],
        options: AlignmentOptions,
        progress: ProgressCallback | None = None,
    ) -> list[TimedWord]:
        """The first pass: where the whole text falls, roughly (stable-ts `align()`, fast_mode; on
        faster-whisper in shorter chunks, worker.engine.first_pass.hear; the openai backend pads every
        chunk to 30 s, so shorter ones would not save it anything)."""
        if not self._on_faster_whisper:
            quick = dataclasses.replace(options, engine={**options.engine, "fast_mode": True})
            return self.engine_words(samples, words, quick, progress)
        with _quiet_engine():
            result = hear(self._model, samples, " ".join(words), options.language, progress, **options.engine)
        return _aligned_words(result)

    def engine_words(
        self,
        samples: np.ndarray,
        words: list[str],
        options: AlignmentOptions,
        progress: ProgressCallback | None = None,
    ) -> list[TimedWord]:
        """One stable-ts `align()` pass: its words (possibly re-split) with times relative to `samples`."""
        with _quiet_engine():
            result = self._model.align(
                samples,
                " ".join(words),
                language=options.language,
                token_step=options.token_step,
                verbose=None,
                progress_callback=progress,
                **options.engine,
            )
        return _aligned_words(result)


@contextlib.contextmanager
def _quiet_engine() -> Iterator[None]:
    """stable-ts draws a tqdm bar on stderr even with verbose=None (dropped); its warnings become logs."""
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("always")
        yield
    for warning in caught:
        log.warning("stable-ts: %s", warning.message)


def _aligned_words(result: Any) -> list[TimedWord]:
    """A stable-ts `align()` result's words; None (nothing aligned) fails the job."""
    if result is None:
        raise AlignmentFailed("the engine could not align the text with the audio")
    return _timed_words(result)


def _timed_words(result: Any) -> list[TimedWord]:
    return [
        TimedWord(w.word, float(w.start), float(w.end), float(w.probability))
        for segment in result.segments
        for w in segment.words
    ]

"""Where the speaker pauses: Silero VAD (the model ships inside the `silero-vad` wheel; no download).

Silero's speech probability rises sharply when speech starts but decays over 100–300 ms after it
stops (it is a recurrent network). Running it a second time on the time-reversed audio gives the
mirror image, sharp at speech ends; the minimum of the two is sharp at both edges. But a recurrent
network can also get stuck: in echo, one direction sometimes hears nothing for many seconds of
plain speech (the reversed pass over 25 s of a reverberant lecture, the forward pass over the first
sentences after a music intro), and the minimum then reports one long "pause" there, on which the
anchoring put the text up to 24 s off. Where the two directions disagree in a way no decay tail
explains, the one that hears speech is believed (`combined`).
A pause is a run of frames (32 ms) whose probability is below a threshold for at least a minimum
duration, its edges tightened to where the probability is below a lower one.

The audio is cut into rows of `ROW_SECONDS` (plus `CONTEXT_SECONDS` of lead-in, discarded, so each
row's recurrent state has settled) and both directions run batched, `ROWS_PER_BATCH` rows of each
at a time: memory stays bounded, ~30 s of steps per batch on a GPU, and about 0.7 % of the audio's
length in CPU time on 2 cores.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
FRAME = 512  # samples per Silero frame at 16 kHz (32 ms)
FRAME_SECONDS = FRAME / SAMPLE_RATE
ROW_SECONDS = 30.0
CONTEXT_SECONDS = 2.0
ROWS_PER_BATCH = 32  # rows per model batch and direction (~16 min of audio, ~130 MB): never the whole audio
CHECK_EVERY_FRAMES = 64  # how often (in frame steps) `check` may stop a long VAD run (a job's cancel hook)
# A pause may anchor the text when its mean speech probability (its level) is at most MAX_LEVEL, or
# LEVEL_FACTOR × the median level of the recording's pauses of ≥ SURE_PAUSE_SECONDS where that is
# higher (with at least SURE_PAUSES_MIN of them), never more than LEVEL_CEILING.
MAX_LEVEL = 0.07
LEVEL_FACTOR = 3.0
SURE_PAUSE_SECONDS = 1.0
SURE_PAUSES_MIN = 10
LEVEL_CEILING = 0.2
SPEECH = 0.5  # a frame is speech at or above this probability
# One direction hearing speech and the other not: a lag (decay tail, early rise) lasts 0.1-0.3 s on
# clean speech and up to 1 s on real speech (a breath before a phrase); a run longer than
# LAG_SECONDS that is not shaped like a lag, or any run longer than STUCK_SECONDS, is a stuck direction.
LAG_SECONDS = 0.4
STUCK_SECONDS = 1.5
# An edge of a pause whose probability stays above the limit for longer than this is not a pause
# edge but speech the model hears poorly (echo): the pause's sure core starts (or ends) after it.
SAG_SECONDS = 0.2

_model: Any = None
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Pause:
    start: float
    end: float
    # Annotations, not identity (a pause equals another with the same span):
    level: float = field(default=0.0, compare=False)  # mean speech probability over the pause (0: sure)
    # where the probability is below the recording's level limit, when that is narrower (echo at an edge)
    core_start: float | None = field(default=None, compare=False)
    core_end: float | None = field(default=None, compare=False)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def core(self) -> Pause:
        """The pause narrowed to its sure core (itself when the core is the whole pause)."""
        if self.core_start is None and self.core_end is None:
            return self
        start = self.start if self.core_start is None else self.core_start
        end = self.end if self.core_end is None else self.core_end
        return Pause(start, end, self.level)


def _load() -> Any:
    global _model
    with _lock:
        if _model is None:
            with _ctrl_c_held():
                from silero_vad import load_silero_vad

                _model = load_silero_vad()
    return _model


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) until the block ends, then deliver it to the handler it was meant for.

    silero-vad's import and loader use bare `except:` clauses (package version, resource lookup),
    which swallow a KeyboardInterrupt that lands inside them: `timestamp align` would run on to the
    end after Ctrl-C. Only the main thread can set handlers; an ignored SIGINT stays ignored."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    caught: list[tuple[int, Any]] = []
    signal.signal(signal.SIGINT, lambda number, frame: caught.append((number, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        previous(*caught[0])  # the default handler raises KeyboardInterrupt; the worker's drains


def _layout(samples: int) -> tuple[int, int, int]:
    """(row count, samples per row, context samples): rows of equal length, so no padding to waste."""
    count = max(1, -(-samples // (int(ROW_SECONDS * SAMPLE_RATE) // FRAME * FRAME)))
    row = -(-samples // count // FRAME) * FRAME
    return count, row, int(CONTEXT_SECONDS * SAMPLE_RATE) // FRAME * FRAME


def _rows(samples: np.ndarray, first: int, end: int, row: int, context: int) -> np.ndarray:
    """Rows first..end-1 (each with its lead-in; zeros outside the audio), copied from `samples`
    (which may be a reversed view): only these rows are ever in memory at once."""
    out = np.zeros((end - first, context + row), np.float32)
    for i in range(first, end):
        lo, hi = i * row - context, (i + 1) * row
        piece = samples[max(lo, 0) : hi]
        out[i - first, max(-lo, 0) : max(-lo, 0) + len(piece)] = piece
    return out


def speech_probability(
    samples: np.ndarray,
    device: str = "cpu",
    check: Callable[[], None] | None = None,
    rows_per_batch: int = ROWS_PER_BATCH,
) -> np.ndarray:
    """Per 32 ms frame, the speech probability, sharp at both edges (min of forward and reversed).

    Rows go through the model `rows_per_batch` at a time (each direction), so memory stays bounded
    (~4 MB per row) whatever the length of the audio.
    `check` is called every CHECK_EVERY_FRAMES steps and may raise to stop (a job's cancel hook)."""
    import torch

    model = _load()
    frames = len(samples) // FRAME
    if frames == 0:
        return np.zeros(0, np.float32)
    audio = samples[: frames * FRAME]
    count, row, context = _layout(len(audio))
    per_row, skip = row // FRAME, context // FRAME
    p_forward = np.empty(count * per_row, np.float32)
    p_backward = np.empty(count * per_row, np.float32)
    with _lock, torch.inference_mode():
        model.to(device)
        for first in range(0, count, rows_per_batch):
            end = min(first + rows_per_batch, count)
            rows = [_rows(audio, first, end, row, context), _rows(audio[::-1], first, end, row, context)]
            batch = torch.from_numpy(np.concatenate(rows)).to(device)
            model.reset_states()
            # Silero's own audio_forward loop (same results), with a point where a cancelled job can stop.
            steps = []
            for step, start in enumerate(range(0, batch.shape[1], FRAME)):
                if check is not None and step % CHECK_EVERY_FRAMES == 0:
                    check()
                steps.append(model(batch[:, start : start + FRAME], SAMPLE_RATE))
            probs = torch.cat(steps, dim=1)[:, skip : skip + per_row].float().cpu().numpy()
            n = end - first
            p_forward[first * per_row : end * per_row] = probs[:n].reshape(-1)
            p_backward[first * per_row : end * per_row] = probs[n:].reshape(-1)
    return combined(p_forward[:frames], p_backward[:frames][::-1])


def combined(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Per frame, the minimum of the two directions (sharp at both edges), except in runs where only
    one of them hears speech and that is no lag (see the module docstring): there the one that does.

    A lag has a shape: the forward pass's decay follows speech both directions heard, the reversed
    pass's early rise precedes it, and either is short. A run shaped otherwise (forward hearing
    speech right after a pause, say) and longer than LAG_SECONDS, or any run longer than
    STUCK_SECONDS, is a direction stuck on silence."""
    out: np.ndarray = np.minimum(forward, backward)
    heard_forward, heard_backward = forward >= SPEECH, backward >= SPEECH
    both = heard_forward & heard_backward
    for first, end in _runs(heard_forward != heard_backward):
        seconds = (end - first) * FRAME_SECONDS
        if seconds <= LAG_SECONDS:
            continue
        if heard_forward[first]:
            lag = first > 0 and bool(both[first - 1])  # decaying after speech
        else:
            lag = end < len(both) and bool(both[end])  # rising before speech
        if seconds > STUCK_SECONDS or not lag:
            out[first:end] = np.maximum(forward[first:end], backward[first:end])
    return out


def _runs(mask: np.ndarray) -> zip[tuple[int, int]]:
    """(first, end) frame of each run of True in `mask`."""
    edges = np.flatnonzero(np.diff(np.r_[False, mask, False].astype(np.int8)))
    return zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True)


def warm_up(device: str = "cpu") -> None:
    """Load the model and run it once (TorchScript optimises on its first calls): do it at start-up."""
    for _ in range(2):
        speech_probability(np.zeros(SAMPLE_RATE, np.float32), device)


def level_limit(levels: np.ndarray, durations: np.ndarray) -> float:
    """The highest level (mean probability) of a pause that may anchor the text in this recording:
    LEVEL_FACTOR × the median level of its long (≥ SURE_PAUSE_SECONDS) pauses, at least MAX_LEVEL,
    at most LEVEL_CEILING.

    Where the model hears silence as silence (clean, noisy or reverberant speech alike: the long
    pauses' median level is 0.01–0.02 on the bench) this is MAX_LEVEL; where even the long pauses
    sit higher (steady background sound the model half-hears as speech), the limit rises with them
    rather than dropping every pause of the recording."""
    sure = levels[durations >= SURE_PAUSE_SECONDS]
    if sure.size < SURE_PAUSES_MIN:
        return MAX_LEVEL
    return float(np.clip(LEVEL_FACTOR * np.median(sure), MAX_LEVEL, LEVEL_CEILING))


def pauses(
    probability: np.ndarray, threshold: float = SPEECH, min_duration: float = 0.1, edge_threshold: float = 0.2
) -> list[Pause]:
    """Runs of frames below `threshold` lasting at least `min_duration` seconds, their edges then
    tightened to where the probability falls below `edge_threshold` (hysteresis: the decision is
    made at `threshold`, the edges where the model is sure; on the bench this moves pause edges
    from 53 % to 66 % within 50 ms on real speech). Each with its level and, where an edge sags
    (above the recording's `level_limit` for more than SAG_SECONDS), its sure core."""
    runs = []
    for first, last in _runs(probability < threshold):
        if (last - first) * FRAME_SECONDS < min_duration:
            continue
        core = np.flatnonzero(probability[first:last] < edge_threshold)
        if core.size:
            first, last = first + core[0], first + core[-1] + 1
        runs.append((int(first), int(last)))
    if not runs:
        return []
    bounds = np.array(runs)
    sums = np.r_[0.0, np.cumsum(probability, dtype=np.float64)]
    levels = (sums[bounds[:, 1]] - sums[bounds[:, 0]]) / (bounds[:, 1] - bounds[:, 0])
    limit = level_limit(levels, (bounds[:, 1] - bounds[:, 0]) * FRAME_SECONDS)
    sag = round(SAG_SECONDS / FRAME_SECONDS)
    found = []
    for (first, last), level in zip(runs, levels, strict=True):
        core_start = core_end = None
        sure = np.flatnonzero(probability[first:last] <= limit)
        if sure.size and sure[0] > sag:
            core_start = round((first + int(sure[0])) * FRAME_SECONDS, 3)
        if sure.size and last - first - 1 - sure[-1] > sag:
            core_end = round((first + int(sure[-1]) + 1) * FRAME_SECONDS, 3)
        start, end = round(first * FRAME_SECONDS, 3), round(last * FRAME_SECONDS, 3)
        found.append(Pause(start, end, round(float(level), 4), core_start, core_end))
    return found


def reliable(found: Sequence[Pause]) -> list[Pause]:
    """The pauses sure enough to anchor the text (level within the recording's `level_limit`),
    each narrowed to its sure core (see the module docstring)."""
    if not found:
        return []
    levels = np.array([p.level for p in found])
    limit = level_limit(levels, np.array([p.duration for p in found]))
    return [p.core for p in found if p.level <= limit]


def find_pauses(
    samples: np.ndarray,
    threshold: float = SPEECH,
    min_duration: float = 0.1,
    device: str = "cpu",
    check: Callable[[], None] | None = None,
) -> list[Pause]:
    return pauses(speech_probability(samples, device, check), threshold, min_duration)


def speech_between(found: list[Pause], duration: float) -> tuple[tuple[float, float], ...]:
    """The complement of `found` pauses inside [0, duration]: where the VAD hears speech."""
    spans, cursor = [], 0.0
    for pause in found:
        if pause.start > cursor:
            spans.append((cursor, min(pause.start, duration)))
        cursor = max(cursor, pause.end)
    if cursor < duration:
        spans.append((cursor, duration))
    return tuple(spans)

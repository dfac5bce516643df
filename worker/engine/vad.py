"""Where the speaker pauses: Silero VAD (the model ships inside the `silero-vad` wheel; no download).

Silero's speech probability rises sharply when speech starts but decays over 100–300 ms after it
stops (it is a recurrent network). Running it a second time on the time-reversed audio gives the
mirror image, sharp at speech ends; the minimum of the two is sharp at both edges. But a recurrent
network can also get stuck: in echo, one direction sometimes hears nothing for many seconds of
plain speech (the reversed pass over 25 s of a reverberant lecture, the forward pass over the first
sentences after a music intro), and the minimum then reports one long "pause" there, on which the
anchoring put the text up to 24 s off. Where the two directions disagree in a way no decay tail
explains, the one that hears speech is believed (`combined`). Where speech fades out (a quiet last
syllable), the reversed pass falls silent early, so there the pause's start (where the words before
it end) is taken from the forward pass; at a soft onset, the mirror image (`FADE_MARGIN_SECONDS`).
A pause is a run of frames (32 ms) whose probability is below a threshold for at least a minimum
duration, its edges tightened to where the probability is below a lower one.

The audio is cut into rows of `ROW_SECONDS` (plus `CONTEXT_SECONDS` of lead-in, discarded, so each
row's recurrent state has settled) and the rows run batched, up to `ROWS_PER_BATCH` at a time.
Silero's own wrapper runs one 32 ms step per call; `Network` runs its modules on a block of steps
per call instead (the convolutional front end has no state, only the LSTM does), the block's
samples copied then: memory stays bounded however long the audio. On a CPU the two directions run
side by side, each in its own thread on one torch thread (60 min: 8.5 CPU s in 4.3 s wall; Silero's
wrapper took 9.5 CPU s in 4.8 s this way, 15 CPU s in 8 s on two torch threads and one lane). On a
GPU both directions share one batch.
"""

from __future__ import annotations

import bisect
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from worker.engine.denoise import denoised

SAMPLE_RATE = 16_000
FRAME = 512  # samples per Silero frame at 16 kHz (32 ms)
FRAME_SECONDS = FRAME / SAMPLE_RATE
ROW_SECONDS = 30.0
CONTEXT_SECONDS = 2.0
ROWS_PER_BATCH = 128  # rows per batch and direction (~64 min of audio)
# Chunks (one row's 32 ms step) per network call: as many steps of the batch's rows as make this
# many, their samples copied then (a batch's samples are never copied whole). On a CPU ~512 fit the
# caches (60 min, 113 rows: 4 steps a call 8.5 CPU s, 8 steps 9.5; 5 min, 10 rows: 2 steps 1.8,
# 16 steps 0.9); on a GPU more chunks mean fewer launches.
CPU_CHUNKS_PER_CALL = 512
GPU_CHUNKS_PER_CALL = 16_384
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
# Where speech fades out (a quiet last syllable before a pause), the reversed pass, for which the
# fade is an onset, falls silent up to a second before the speech ends; the forward pass falls
# silent a recording's usual decay time after it. So where the reversed pass falls silent more than
# FADE_MARGIN_SECONDS beyond that usual decay (the median over the recording's pauses, known from
# DECAY_PAUSES_MIN of them) before the forward pass, speech ends that long before the forward pass
# falls silent. A soft onset is the mirror image: the forward pass hears it late, and speech starts
# the reversed pass's usual lead (plus the margin) after the reversed pass hears it. Only the words'
# times take the moved edges: the anchoring reads the pause as both directions heard it (its
# `core`), as before; with moved edges it misplaced a run of real speech by 5 s (bench/README.md,
# "Sentence ends that fade out").
FADE_MARGIN_SECONDS = 0.1
DECAY_PAUSES_MIN = 10
# A gap between two sentences said close together (0.15-0.3 s) often stays above SPEECH for less than
# a pause's minimum duration (the network's decay fills it), yet its probability dips as deep as a
# sure pause's (median 0.02-0.05 on the bench's lectures; inside words the lowest 5 % of dips reach
# only 0.2-0.4): a run of frames below BRIEF_DEPTH too short for a pause and apart from every pause
# by BRIEF_APART_SECONDS is a brief gap, which only a sentence end may take (worker.engine.refine).
BRIEF_DEPTH = 0.1
BRIEF_APART_SECONDS = 0.05

_networks: list[Network] = []  # loaded once; stateless (the recurrent state is passed in), shared by lanes
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Pause:
    start: float
    end: float
    # Annotations, not identity (a pause equals another with the same span):
    level: float = field(default=0.0, compare=False)  # mean speech probability over the pause (0: sure)
    # The pause as the anchoring reads it, where that differs: where the probability is below the
    # recording's level limit, when that is narrower (echo at an edge), or the edge before it was
    # moved for a fade or a soft onset (FADE_MARGIN_SECONDS).
    core_start: float | None = field(default=None, compare=False)
    core_end: float | None = field(default=None, compare=False)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def core(self) -> Pause:
        """The pause as the anchoring reads it: its sure core (itself when that is the whole pause)."""
        if self.core_start is None and self.core_end is None:
            return self
        start = self.start if self.core_start is None else self.core_start
        end = self.end if self.core_end is None else self.core_end
        return Pause(start, end, self.level)


@dataclass(frozen=True, slots=True)
class Silences:
    """What the VAD hears between words: pauses, and brief gaps too short to be pauses (`BRIEF_DEPTH`)."""

    pauses: list[Pause]
    brief: list[Pause]

    @property
    def all(self) -> list[Pause]:
        """Pauses and brief gaps, in time order (for where the VAD hears speech)."""
        return sorted([*self.pauses, *self.brief], key=lambda p: p.start)


class Network:
    """Silero's network (its own TorchScript modules and weights) run on many steps per call.

    Silero's wrapper runs one 32 ms step per call: its spectrogram and convolutional encoder see
    one 576-sample chunk (the step and the previous step's last 64 samples) and only the LSTM
    carries state. The chunks of a block of steps are all known in advance, so the encoder takes
    them in one call and the LSTM (the wrapper's LSTMCell weights in `torch.nn.LSTM`) runs the
    block's sequence in one call too: the same probabilities within 1e-5
    (tests/worker/test_vad.py), at ~10 % less CPU for an hour of audio (9.5 → 8.5 s) and ~45 % less
    for ten minutes, in 4 (an hour, CPU) to 64 (GPU) times fewer calls."""

    def __init__(self, wrapper: Any) -> None:
        import torch

        inner = wrapper._model  # the 16 kHz network (silero-vad 6: stft, encoder, decoder.{rnn, decoder})
        cell = inner.decoder.rnn
        self.context = int(inner.context_size_samples)
        self._stft, self._encoder, self._head = inner.stft, inner.encoder, inner.decoder.decoder
        hidden = cell.weight_hh.shape[1]
        self._lstm = torch.nn.LSTM(cell.weight_ih.shape[1], hidden, batch_first=True)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self._lstm, f"{name}_l0").copy_(getattr(cell, name))
        self._lstm.eval()
        self._wrapper = wrapper  # the network's modules live on it; `to` moves them all

    def to(self, device: str) -> None:
        self._wrapper.to(device)
        self._lstm.to(device)

    def __call__(self, chunks: Any, state: Any) -> tuple[Any, Any]:
        """Probabilities (rows, steps) of `chunks` (rows, steps, context + FRAME samples), and the
        LSTM state after them (None: a fresh start)."""
        rows, steps, width = chunks.shape
        features = self._encoder(self._stft(chunks.reshape(rows * steps, width)))
        hidden, state = self._lstm(features.reshape(rows, steps, -1), state)
        return self._head(hidden.reshape(rows * steps, -1, 1)).reshape(rows, steps), state


def _load(device: str = "cpu") -> Network:
    """Silero's network on `device`, loaded once (~50 ms)."""
    import torch

    with _lock:
        if not _networks:
            threads = torch.get_num_threads()
            with _ctrl_c_held():
                from silero_vad import load_silero_vad

                _networks.append(Network(load_silero_vad()))
            # silero_vad's import sets torch's threads to 1 for the whole process (the openai
            # backend's Whisper with them): put back what CPU_THREADS set
            torch.set_num_threads(threads)
        _networks[0].to(device)
        return _networks[0]


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


def _block(audio: np.ndarray, rows: range, row: int, context: int, first: int, end: int) -> np.ndarray:
    """Samples first..end-1 of each of `rows` (row i starts `context` samples before i * row; zeros
    outside the audio, which may be a reversed view): one block of steps, not the whole batch."""
    out = np.zeros((len(rows), end - first), np.float32)
    for k, i in enumerate(rows):
        lo, hi = i * row - context + first, i * row - context + end
        piece = audio[max(lo, 0) : max(hi, 0)]
        out[k, max(-lo, 0) : max(-lo, 0) + len(piece)] = piece
    return out


class _Stopped(Exception):
    """The other lane failed or was cancelled: this one stops too."""


def _lane(
    network: Network,
    signals: Sequence[np.ndarray],
    layout: tuple[int, int, int],
    device: str,
    rows_per_batch: int,
    chunks_per_call: int,
    check: Callable[[], None],
) -> list[np.ndarray]:
    """Per signal, the probability of every frame of its rows (lead-ins dropped): the signals' rows
    stacked in one batch, as many steps of them per network call as make `chunks_per_call` chunks,
    `check` called before each call (it may raise to stop)."""
    import torch

    count, row, context = layout
    per_row, skip = row // FRAME, context // FRAME
    out = [np.empty(count * per_row, np.float32) for _ in signals]
    with torch.inference_mode():  # thread-local: entered in the lane's own thread
        for first in range(0, count, rows_per_batch):
            rows = range(first, min(first + rows_per_batch, count))
            block = max(1, chunks_per_call // (len(rows) * len(signals))) * FRAME
            # each step's chunk starts with the previous step's last samples (zeros at a row's start)
            tail = torch.zeros(len(rows) * len(signals), network.context, device=device)
            state, steps = None, []
            for offset in range(0, context + row, block):
                check()
                stop = min(offset + block, context + row)
                samples = np.concatenate([_block(s, rows, row, context, offset, stop) for s in signals])
                batch = torch.cat([tail, torch.from_numpy(samples).to(device)], dim=1)
                tail = batch[:, -network.context :]
                probs, state = network(batch.unfold(1, network.context + FRAME, FRAME), state)
                steps.append(probs)
            probs = torch.cat(steps, dim=1)[:, skip : skip + per_row].float().cpu().numpy()
            for k, probabilities in enumerate(out):
                own = probs[k * len(rows) : (k + 1) * len(rows)]  # this signal's rows of the batch
                probabilities[first * per_row : rows.stop * per_row] = own.reshape(-1)
    return out


@contextlib.contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads set to `count` for the block (a process-wide setting: the VAD holds
    `_lock`, and nothing else in a job runs torch meanwhile)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def directions(
    samples: np.ndarray,
    device: str = "cpu",
    check: Callable[[], None] | None = None,
    rows_per_batch: int = ROWS_PER_BATCH,
) -> tuple[np.ndarray, np.ndarray]:
    """Per 32 ms frame, the speech probability heard forwards and heard on the reversed audio (put
    back in time order).

    Rows go through the network `rows_per_batch` at a time, their samples copied a block of steps at
    a time, so memory stays bounded whatever the length of the audio.
    `check` is called before every network call (a few hundred per hour of audio on a CPU), in the
    calling thread, and may raise to stop (a job's cancel hook)."""
    frames = len(samples) // FRAME
    if frames == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    audio = samples[: frames * FRAME]
    run = _parallel_directions if device == "cpu" else _batched_directions
    forward, backward = run(audio, device, check or (lambda: None), rows_per_batch)
    return forward[:frames], backward[:frames][::-1]


def speech_probability(
    samples: np.ndarray,
    device: str = "cpu",
    check: Callable[[], None] | None = None,
    rows_per_batch: int = ROWS_PER_BATCH,
) -> np.ndarray:
    """Per 32 ms frame, the speech probability, sharp at both edges (`combined` `directions`)."""
    return combined(*directions(samples, device, check, rows_per_batch))


def _batched_directions(
    audio: np.ndarray, device: str, check: Callable[[], None], rows_per_batch: int
) -> list[np.ndarray]:
    """Both directions in one batch (a GPU: its calls cost launches, not arithmetic)."""
    network = _load(device)
    with _lock:
        signals, layout = [audio, audio[::-1]], _layout(len(audio))
        return _lane(network, signals, layout, device, rows_per_batch, GPU_CHUNKS_PER_CALL, check)


def _parallel_directions(
    audio: np.ndarray, device: str, check: Callable[[], None], rows_per_batch: int
) -> list[np.ndarray]:
    """The reversed direction in a thread of its own, both on one torch thread (a CPU)."""
    network = _load(device)
    layout = _layout(len(audio))
    stopped = threading.Event()

    def stop_if_told() -> None:
        if stopped.is_set():
            raise _Stopped

    def lane(signal: np.ndarray, check: Callable[[], None]) -> np.ndarray:
        return _lane(network, [signal], layout, device, rows_per_batch, CPU_CHUNKS_PER_CALL, check)[0]

    with _lock, _torch_threads(1), ThreadPoolExecutor(1, thread_name_prefix="vad") as pool:
        reversed_run = pool.submit(lane, audio[::-1], stop_if_told)
        try:
            forward = lane(audio, check)
        except BaseException:
            stopped.set()  # the reversed lane stops at its next check; the pool waits for it
            raise
        backward = reversed_run.result()
    return [forward, backward]


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


Run = tuple[int, int]  # first frame, end frame
Heard = tuple[np.ndarray, np.ndarray]  # the forward and the reversed pass's probabilities, in time order


def pauses(
    probability: np.ndarray,
    threshold: float = SPEECH,
    min_duration: float = 0.1,
    edge_threshold: float = 0.2,
    heard: Heard | None = None,
) -> list[Pause]:
    """Runs of frames below `threshold` lasting at least `min_duration` seconds, their edges then
    tightened to where the probability falls below `edge_threshold` (hysteresis: the decision is
    made at `threshold`, the edges where the model is sure; on the bench this moves pause edges
    from 53 % to 66 % within 50 ms on real speech), and, given the forward and reversed probabilities
    `heard` (what `probability` combines), moved where speech fades out or starts softly
    (`_faded_edges`). Each with its level and, where an edge sags (above the recording's
    `level_limit` for more than SAG_SECONDS), its sure core."""
    runs: list[Run] = []
    for first, last in _runs(probability < threshold):
        if (last - first) * FRAME_SECONDS < min_duration:
            continue
        core = np.flatnonzero(probability[first:last] < edge_threshold)
        if core.size:
            first, last = first + core[0], first + core[-1] + 1
        runs.append((int(first), int(last)))
    if not runs:
        return []
    speech_edges = _faded_edges(runs, heard, edge_threshold)
    bounds = np.array(runs)
    sums = np.r_[0.0, np.cumsum(probability, dtype=np.float64)]
    levels = (sums[bounds[:, 1]] - sums[bounds[:, 0]]) / (bounds[:, 1] - bounds[:, 0])
    limit = level_limit(levels, (bounds[:, 1] - bounds[:, 0]) * FRAME_SECONDS)
    sag = round(SAG_SECONDS / FRAME_SECONDS)
    found = []
    for (first, last), (speech_end, speech_start), level in zip(runs, speech_edges, levels, strict=True):
        core_start = core_end = None
        sure = np.flatnonzero(probability[first:last] <= limit)
        if sure.size and sure[0] > sag:
            core_start = round((first + int(sure[0])) * FRAME_SECONDS, 3)
        if sure.size and last - first - 1 - sure[-1] > sag:
            core_end = round((first + int(sure[-1]) + 1) * FRAME_SECONDS, 3)
        start, end = round(first * FRAME_SECONDS, 3), round(last * FRAME_SECONDS, 3)
        # a fade or a soft onset: the words end later or start earlier; the anchoring reads the pause as heard
        if speech_end != first:
            core_start = start if core_start is None else core_start
            start = round(speech_end * FRAME_SECONDS, 3)
        if speech_start != last:
            core_end = end if core_end is None else core_end
            end = round(speech_start * FRAME_SECONDS, 3)
        found.append(Pause(start, end, round(float(level), 4), core_start, core_end))
    return found


def _faded_edges(runs: list[Run], heard: Heard | None, silent_below: float) -> list[Run]:
    """`runs` with each start moved where speech fades out (by the forward pass) and each end where
    speech starts softly (the mirror image: by the reversed pass, on the reversed recording); see
    FADE_MARGIN_SECONDS. A run whose two moved edges would cross keeps its own."""
    if heard is None:
        return runs
    forward, backward = heard
    starts = _faded_starts(runs, forward, silent_below)
    frames = len(backward)
    mirrored = [(frames - last, frames - first) for first, last in reversed(runs)]
    ends = [frames - start for start in reversed(_faded_starts(mirrored, backward[::-1], silent_below))]
    return [(start, end) if start < end else run for run, start, end in zip(runs, starts, ends, strict=True)]


def _faded_starts(runs: list[Run], forward: np.ndarray, silent_below: float) -> list[int]:
    """Where speech before each of `runs` ends: its first frame, or the recording's usual decay plus
    FADE_MARGIN_SECONDS before the forward pass falls silent in it where that is later."""

    def decay(first: int, last: int) -> int | None:
        silent = np.flatnonzero(forward[first:last] < silent_below)
        return int(silent[0]) if silent.size and first > 0 else None  # (a pause at 0 follows no speech)

    decays = [decay(first, last) for first, last in runs]
    known = [frames for frames in decays if frames is not None]
    if len(known) < DECAY_PAUSES_MIN:
        return [first for first, _ in runs]
    allowed = float(np.median(known)) + FADE_MARGIN_SECONDS / FRAME_SECONDS
    return [
        first if frames is None else first + max(0, round(frames - allowed))
        for (first, _), frames in zip(runs, decays, strict=True)
    ]


def reliable(found: Sequence[Pause]) -> list[Pause]:
    """The pauses sure enough to anchor the text (level within the recording's `level_limit`),
    each narrowed to its sure core (see the module docstring)."""
    if not found:
        return []
    levels = np.array([p.level for p in found])
    limit = level_limit(levels, np.array([p.duration for p in found]))
    return [p.core for p in found if p.level <= limit]


def brief_gaps(probability: np.ndarray, found: Sequence[Pause], depth: float = BRIEF_DEPTH) -> list[Pause]:
    """Runs of frames below `depth` that are no part of (nor within BRIEF_APART_SECONDS of) a pause
    in `found` (see `BRIEF_DEPTH`), each with its level."""
    starts = [p.start for p in found]
    out = []
    for first, last in _runs(probability < depth):
        start, end = first * FRAME_SECONDS, last * FRAME_SECONDS
        before = bisect.bisect_right(starts, end + BRIEF_APART_SECONDS) - 1  # the last pause starting by then
        if before >= 0 and found[before].end >= start - BRIEF_APART_SECONDS:
            continue
        out.append(Pause(round(start, 3), round(end, 3), round(float(probability[first:last].mean()), 4)))
    return out


def find_silences(
    samples: np.ndarray,
    threshold: float = SPEECH,
    min_duration: float = 0.1,
    device: str = "cpu",
    check: Callable[[], None] | None = None,
    denoise: bool = False,
) -> Silences:
    """The pauses and brief gaps in `samples`; with `denoise`, as heard with the steady noise taken
    out (worker.engine.denoise)."""
    if denoise:
        with _lock, _torch_threads(1):  # its transforms are small: more threads only spin
            samples = denoised(samples, check)
    forward, backward = directions(samples, device, check)
    probability = combined(forward, backward)
    found = pauses(probability, threshold, min_duration, heard=(forward, backward))
    return Silences(found, brief_gaps(probability, found))


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

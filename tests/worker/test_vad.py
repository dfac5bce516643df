"""The VAD runs long audio in bounded batches of rows and finds the pauses between sentences."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from tests.speech import spoken_alone
from worker.engine import vad
from worker.engine.vad import (
    DECAY_PAUSES_MIN,
    FADE_MARGIN_SECONDS,
    FRAME,
    FRAME_SECONDS,
    LEVEL_CEILING,
    MAX_LEVEL,
    SAMPLE_RATE,
    brief_gaps,
    level_limit,
    pauses,
    reliable,
    speech_probability,
)


def _speech_with_gaps() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """~66 s (three 30 s VAD rows): a spoken sentence, then 2 s of silence, repeated."""
    (clip,) = spoken_alone(["המשנה שואלת מאימתי קורין את שמע בערבית."], 175)
    gap = np.zeros(2 * SAMPLE_RATE, np.float32)
    pieces, gaps, cursor = [], [], 0.0
    while cursor < 64:
        pieces += [clip, gap]
        cursor += len(clip) / SAMPLE_RATE
        gaps.append((cursor, cursor + 2.0))
        cursor += 2.0
    audio = np.concatenate(pieces)
    noise = np.random.default_rng(0).normal(0, 1e-3, audio.shape).astype(np.float32)
    return audio + noise, gaps


def test_rows_in_small_batches_give_the_same_probabilities_and_pauses() -> None:
    audio, gaps = _speech_with_gaps()
    whole = speech_probability(audio)
    one_row_at_a_time = speech_probability(audio, rows_per_batch=1)
    assert len(whole) == len(audio) // FRAME
    np.testing.assert_allclose(one_row_at_a_time, whole, atol=1e-5)
    # a GPU's path (both directions in one batch, one lane), run here on the CPU
    whole_frames = audio[: len(whole) * FRAME]
    both_in_one_batch = vad._batched_directions(whole_frames, "cpu", lambda: None, 2)
    one_batch = vad.combined(both_in_one_batch[0][: len(whole)], both_in_one_batch[1][: len(whole)][::-1])
    np.testing.assert_allclose(one_batch, whole, atol=1e-5)
    found = pauses(whole)
    for start, end in gaps[:-1]:  # every silence between two sentences is a pause, at its place
        assert any(abs(p.start - start) < 0.3 and abs(p.end - end) < 0.3 for p in found), (start, found)


def test_the_network_run_a_block_of_steps_per_call_matches_silero_s_own_step_by_step_wrapper() -> None:
    """`vad.Network` runs Silero's own modules on many steps per call; Silero's wrapper (the
    library's API: one 32 ms step per call, its state and context kept inside) is the reference."""
    network = vad._load()  # first: silero_vad's import sets torch's threads, which `_load` puts back
    from silero_vad import load_silero_vad

    audio, _ = _speech_with_gaps()
    frames = 12 * SAMPLE_RATE // FRAME
    audio = audio[: frames * FRAME]
    wrapper = load_silero_vad()
    with torch.inference_mode():
        wrapper.reset_states()
        steps = [
            wrapper(torch.from_numpy(audio[i * FRAME : (i + 1) * FRAME])[None], SAMPLE_RATE)
            for i in range(frames)
        ]
    reference = torch.cat(steps, dim=1).numpy().reshape(-1)
    # one row, no lead-in, 7 steps a call: the state and the 64-sample context carried across calls
    (ours,) = vad._lane(network, [audio], (1, len(audio), 0), "cpu", 1, 7, lambda: None)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    assert reference.max() > 0.9 and reference.min() < 0.1  # speech and silence both in it


class _Cancelled(Exception):
    pass


def test_a_cancel_stops_both_directions_from_the_calling_thread() -> None:
    """On a CPU the reversed pass runs in a thread of its own; the cancel hook (a job's progress
    callback) is called only in the caller's thread, and when it raises both passes stop, torch's
    thread count is put back and the VAD is free for the next job."""
    audio = np.random.default_rng(1).normal(0, 0.1, 70 * SAMPLE_RATE).astype(np.float32)
    callers: set[threading.Thread] = set()
    calls = [0]

    def cancel_on_the_third_call() -> None:
        callers.add(threading.current_thread())
        calls[0] += 1
        if calls[0] == 3:
            raise _Cancelled

    threads = torch.get_num_threads()
    with pytest.raises(_Cancelled):
        speech_probability(audio, check=cancel_on_the_third_call)
    assert callers == {threading.current_thread()}
    assert not [t for t in threading.enumerate() if t.name.startswith("vad")]  # the reversed pass stopped
    assert torch.get_num_threads() == threads
    assert len(speech_probability(audio[: 5 * SAMPLE_RATE])) == 5 * SAMPLE_RATE // FRAME


def test_loading_silero_keeps_the_thread_count_the_worker_set() -> None:
    """silero_vad's import sets torch's threads to 1 for the whole process, which would leave the
    openai backend's Whisper on one core whatever CPU_THREADS says (a fresh process: the import
    runs once)."""
    script = (
        "import numpy as np, torch\n"
        "torch.set_num_threads(3)\n"
        "from worker.engine import vad\n"
        "vad.speech_probability(np.zeros(16000, np.float32))\n"
        "print(torch.get_num_threads())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["3"]


def _probability(*parts: tuple[float, float]) -> np.ndarray:
    """Frame probabilities from (seconds, probability) parts."""
    return np.concatenate([np.full(round(s / FRAME_SECONDS), p, np.float32) for s, p in parts])


def test_a_direction_stuck_on_silence_is_outvoted_and_lags_are_still_cut() -> None:
    """Each direction lags at the edges it is slow at (0.25 s, and a 0.9 s breath before the last
    phrase that only the reversed pass hears): the minimum cuts those. But the reversed pass hears
    nothing for 5 s of plain speech, as it did in a reverberant lecture, and the forward pass
    nothing of a whole 2 s phrase, as after a music intro: neither is a pause."""
    timeline = [(3.0, True), (1.0, False), (6.0, True), (1.5, False), (2.0, True), (2.0, False), (2.0, True)]
    frames = [round(s / FRAME_SECONDS) for s, _ in timeline]
    speech = np.concatenate([np.full(n, on) for n, (_, on) in zip(frames, timeline, strict=True)])
    forward = np.where(speech, 0.95, 0.02).astype(np.float32)
    backward = forward.copy()
    tail = round(0.25 / FRAME_SECONDS)
    for end in np.flatnonzero(speech[:-1] & ~speech[1:]) + 1:
        forward[end : end + tail] = 0.8  # decays after speech stops
    for start in np.flatnonzero(~speech[:-1] & speech[1:]) + 1:
        backward[start - tail : start] = 0.8  # (reversed) decays before speech starts
    at = np.cumsum([0, *frames])  # first frame of each part
    backward[at[5] - round(0.9 / FRAME_SECONDS) : at[5]] = 0.9  # a breath before the last phrase
    backward[at[2] + round(0.5 / FRAME_SECONDS) : at[3] - round(0.5 / FRAME_SECONDS)] = 0.03  # stuck
    forward[at[4] : at[5] + tail] = 0.05  # stuck over a whole phrase

    plain = pauses(np.minimum(forward, backward))  # a 5 s "pause" in speech, one over a phrase
    assert [(round(p.start, 1), round(p.end, 1)) for p in plain] == [(3.0, 4.0), (4.5, 9.5), (10.0, 15.5)]
    found = pauses(vad.combined(forward, backward))  # (the stuck phrase starts with its early rise)
    assert [(round(p.start, 1), round(p.end, 1)) for p in found] == [(3.0, 4.0), (10.0, 11.3), (13.5, 15.5)]


def _sentences_with_fades(faded: set[int], count: int = 12) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Forward and reversed probabilities of `count` sentences of 2 s, each followed by 1 s of
    silence, and where each sentence's speech ends. The forward pass decays over 0.1 s after speech
    stops; the reversed pass is sharp there, except after the `faded` sentences, whose last 0.5 s
    is so quiet that it falls silent that early (the fade is an onset to it)."""
    speech, silence, decay = (round(s / FRAME_SECONDS) for s in (2.0, 1.0, 0.1))
    forward, backward, ends = [], [], []
    for sentence in range(count):
        ends.append((len(forward) + speech) * FRAME_SECONDS)
        forward += [0.95] * speech + [0.6] * decay + [0.02] * (silence - decay)
        heard = speech - (round(0.5 / FRAME_SECONDS) if sentence in faded else 0)
        backward += [0.95] * heard + [0.05] * (speech - heard) + [0.02] * silence
    return np.array(forward, np.float32), np.array(backward, np.float32), ends


def test_a_sentence_end_that_fades_out_ends_where_the_speech_does() -> None:
    """The minimum of both directions would end sentences 3 and 7 half a second early, inside their
    quiet last syllable; the forward pass's silence, less its usual decay, puts them back."""
    forward, backward, ends = _sentences_with_fades({3, 7})
    probability = vad.combined(forward, backward)
    plain = pauses(probability)
    early = [round(end - p.start, 1) for p, end in zip(plain, ends, strict=True)]
    assert early == [0.5 if sentence in (3, 7) else 0 for sentence in range(12)]
    found = pauses(probability, heard=(forward, backward))
    off = [p.start - end for p, end in zip(found, ends, strict=True)]
    assert all(abs(seconds) <= FADE_MARGIN_SECONDS + FRAME_SECONDS for seconds in off)
    assert [p.end for p in found] == [p.end for p in plain]  # sharp onsets: speech starts stay
    assert reliable(found) == reliable(plain)  # the anchoring reads the pauses as heard


def test_a_soft_onset_starts_where_the_speech_does() -> None:
    """The mirror image (the same recording reversed): the forward pass hears the soft first
    syllable of two sentences half a second late; the reversed pass's rise, less its usual lead,
    puts their starts back."""
    faded_forward, faded_backward, ends = _sentences_with_fades({3, 7})
    forward, backward = faded_backward[::-1].copy(), faded_forward[::-1].copy()
    starts = sorted(len(forward) * FRAME_SECONDS - end for end in ends)
    probability = vad.combined(forward, backward)
    plain = pauses(probability)
    late = [round(p.end - start, 1) for p, start in zip(plain, starts, strict=True)]
    assert late == [0.5 if sentence in (4, 8) else 0 for sentence in range(12)]
    found = pauses(probability, heard=(forward, backward))
    off = [p.end - start for p, start in zip(found, starts, strict=True)]
    assert all(abs(seconds) <= FADE_MARGIN_SECONDS + FRAME_SECONDS for seconds in off)
    assert [p.start for p in found] == [p.start for p in plain]
    assert reliable(found) == reliable(plain)


def test_with_too_few_pauses_to_know_the_usual_decay_no_pause_edge_moves() -> None:
    forward, backward, _ = _sentences_with_fades({3}, count=DECAY_PAUSES_MIN - 1)
    probability = vad.combined(forward, backward)
    assert pauses(probability, heard=(forward, backward)) == pauses(probability)
    mirrored = (backward[::-1].copy(), forward[::-1].copy())
    assert pauses(vad.combined(*mirrored), heard=mirrored) == pauses(vad.combined(*mirrored))


def test_only_sure_pauses_anchor_and_dips_inside_speech_do_not() -> None:
    """In noise or echo the probability sags inside words (0.15–0.3) without reaching a real pause's
    near-zero: those runs are still pauses (refinement may use them) but not reliable ones."""
    parts = [(3.0, 0.95)]
    for _ in range(12):  # sentences: speech, a dip inside a word, speech, a real pause
        parts += [(1.5, 0.95), (0.4, 0.2), (1.5, 0.9), (0.6, 0.01)]
    probability = _probability(*parts)
    found = pauses(probability)
    assert len(found) == 24
    sure = reliable(found)
    assert len(sure) == 12
    assert all(p.level < 0.02 and abs(p.duration - 0.6) < 0.05 for p in sure)
    assert all(0.15 < p.level < 0.25 for p in found if p not in sure)


def test_an_echo_filled_pause_edge_is_cut_from_the_sure_core() -> None:
    """Reverberation: the last words ring on at probability ~0.3 for 0.8 s before the real silence;
    the pause (as refinement sees it) starts at the first frame below 0.2 as before, its sure core
    where the probability is really low."""
    probability = _probability((2.0, 0.95), (0.8, 0.18), (2.0, 0.0), (2.0, 0.95))
    (pause,) = pauses(probability)
    assert abs(pause.start - 2.0) < 0.05 and abs(pause.end - 4.8) < 0.05
    (core,) = reliable([pause])
    assert abs(core.start - 2.8) < 0.05 and core.end == pause.end


def test_the_level_limit_follows_the_recordings_own_pauses() -> None:
    """Where even the long pauses sit at 0.05 (steady background sound), pauses at 0.1 still anchor;
    with too few long pauses to judge, the fixed MAX_LEVEL holds."""
    durations = np.r_[np.full(12, 2.0), np.full(30, 0.3)]
    assert level_limit(np.r_[np.full(12, 0.05), np.full(30, 0.1)], durations) == pytest.approx(0.15)
    assert level_limit(np.r_[np.full(12, 0.01), np.full(30, 0.1)], durations) == MAX_LEVEL
    assert level_limit(np.full(5, 0.1), np.full(5, 2.0)) == MAX_LEVEL
    assert level_limit(np.full(12, 0.5), np.full(12, 2.0)) == LEVEL_CEILING


def test_a_ctrl_c_while_silero_loads_is_raised_after_the_load_not_swallowed() -> None:
    """silero-vad's loader wraps lookups in bare `except:` clauses; a Ctrl-C landing there is held."""

    def loader_like_silero() -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs inside this try
            sum(range(1000))
        except:  # noqa: E722 - as silero_vad/model.py does
            pass

    # a terminal's Ctrl-C reaches Python's default handler (a background job may inherit SIG_IGN)
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        loader_like_silero()  # unguarded, the Ctrl-C is lost: nothing raised
        with pytest.raises(KeyboardInterrupt), vad._ctrl_c_held():
            loader_like_silero()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

        drained: list[int] = []  # the worker's own handler (graceful shutdown) gets it instead
        signal.signal(signal.SIGINT, lambda number, frame: drained.append(number))
        with vad._ctrl_c_held():
            loader_like_silero()
        assert drained == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, inherited)


def test_a_dip_too_short_for_a_pause_but_as_deep_as_one_is_a_brief_gap() -> None:
    """Two sentences said close together: two frames at 0.03, too short for a pause. A stop inside a
    word dips to 0.3 only; a deep frame right beside a pause is its decay tail, not a gap of its own."""
    probability = _probability(
        (2.0, 0.95), (0.064, 0.03), (1.0, 0.95), (0.064, 0.3), (1.0, 0.95),
        (0.032, 0.05), (0.032, 0.6), (0.6, 0.01), (1.0, 0.95),
    )  # fmt: skip
    found = pauses(probability)
    assert len(found) == 1 and found[0].duration > 0.5
    (gap,) = brief_gaps(probability, found)
    assert abs(gap.start - 2.0) < FRAME_SECONDS and abs(gap.end - 2.064) < FRAME_SECONDS
    assert gap.level < 0.05

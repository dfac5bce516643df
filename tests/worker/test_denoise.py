"""Steady noise taken out of what the VAD hears (worker.engine.denoise), on espeak speech in pink noise."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bench.lecture import pink_noise
from tests.speech import spoken_alone
from worker.engine.alignment import AlignmentOptions
from worker.engine.denoise import BLOCK_SECONDS, WINDOW, denoised
from worker.engine.vad import SAMPLE_RATE, find_silences
from worker.settings import Settings

SENTENCES = [
    "המשנה שואלת מאימתי קורין את שמע בערבית.",
    "משעה שהכהנים נכנסים לאכול בתרומתן עד סוף האשמורה הראשונה.",
    "דברי רבי אליעזר וחכמים אומרים עד חצות.",
]


@pytest.fixture(scope="module")
def sentences() -> list[np.ndarray]:
    return spoken_alone(SENTENCES, 175)  # the same audio whichever tests ran before


def _lecture(
    sentences: list[np.ndarray], gap: float, seconds: float
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The sentences in turn, `gap` seconds of silence after each, for `seconds`; and the gaps."""
    pieces, gaps, cursor, turns = [], [], 0.0, itertools.cycle(sentences)
    while cursor < seconds:
        pieces.append(next(turns))
        cursor += len(pieces[-1]) / SAMPLE_RATE
        if gap:
            pieces.append(np.zeros(round(gap * SAMPLE_RATE), np.float32))
            gaps.append((cursor, cursor + gap))
            cursor += gap
    return np.concatenate(pieces), gaps


def _noisy(audio: np.ndarray, snr_db: float | np.ndarray, seed: int = 0) -> np.ndarray:
    level = np.sqrt(np.mean(audio[np.abs(audio) > 0.01] ** 2))
    noise = pink_noise(len(audio), np.random.default_rng(seed)) * level * 10 ** (-np.asarray(snr_db) / 20)
    return (audio + noise).astype(np.float32)


def _power_db(audio: np.ndarray, spans: list[tuple[float, float]]) -> float:
    """The power over `spans` in the speech band (100-4000 Hz: not pink noise's bass, which the VAD
    does not hear)."""
    total = 0.0
    for a, b in spans:
        piece = audio[round(a * SAMPLE_RATE) : round(b * SAMPLE_RATE)].astype(np.float64)
        spectrum = np.abs(np.fft.rfft(piece)) ** 2
        hz = np.fft.rfftfreq(len(piece), 1 / SAMPLE_RATE)
        total += float(spectrum[(hz >= 100) & (hz <= 4000)].sum()) / len(piece)
    return 10 * np.log10(total)


def test_steady_noise_goes_and_the_speech_stays(sentences: list[np.ndarray]) -> None:
    clean, gaps = _lecture(sentences, 1.0, 40)
    noisy = _noisy(clean, 10)
    out = denoised(noisy)
    assert out.dtype == np.float16 and out.shape == noisy.shape
    inside = [(a + 0.1, b - 0.1) for a, b in gaps]
    speech = [(b, c) for (_, b), (c, _) in itertools.pairwise(gaps)]
    assert _power_db(out, inside) < _power_db(noisy, inside) - 10  # the noise, 10 dB down at least
    assert abs(_power_db(out, speech) - _power_db(noisy, speech)) < 1.5  # the speech, nearly as it was


def test_a_noise_that_rises_slowly_is_followed(sentences: list[np.ndarray]) -> None:
    """From 30 dB below the speech to 5 dB below over two minutes: gone from every gap."""
    clean, gaps = _lecture(sentences, 1.0, 120)
    noisy = _noisy(clean, np.linspace(30, 5, len(clean)))
    out = denoised(noisy)
    for half in (gaps[: len(gaps) // 2], gaps[len(gaps) // 2 :]):
        inside = [(a + 0.1, b - 0.1) for a, b in half]
        assert _power_db(out, inside) < _power_db(noisy, inside) - 6


def test_chunks_leave_no_seam(sentences: list[np.ndarray]) -> None:
    noisy = _noisy(_lecture(sentences, 1.0, 25)[0], 10)
    whole = denoised(noisy, chunk_seconds=60).astype(np.float32)
    in_chunks = denoised(noisy, chunk_seconds=7).astype(np.float32)
    np.testing.assert_allclose(in_chunks, whole, atol=2e-3)


def test_a_cancel_stops_it_between_chunks(sentences: list[np.ndarray]) -> None:
    calls = []

    def cancel() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        denoised(_noisy(_lecture(sentences, 1.0, 25)[0], 10), cancel, chunk_seconds=5)
    assert len(calls) == 2


def test_short_or_silent_audio_passes_through() -> None:
    assert denoised(np.zeros(100, np.float32)).shape == (100,)
    silent = denoised(np.zeros(3 * SAMPLE_RATE, np.float32))
    assert silent.shape == (3 * SAMPLE_RATE,) and not np.any(silent)


@pytest.mark.parametrize("past_a_block", [1, WINDOW // 2, WINDOW - 1, WINDOW])
def test_any_length_works_also_a_sliver_past_a_noise_block(past_a_block: int) -> None:
    """The noise is measured per BLOCK_SECONDS; a last block a few samples long cannot be transformed."""
    length = round(2 * BLOCK_SECONDS * SAMPLE_RATE) + past_a_block
    noise = np.random.default_rng(1).normal(0, 0.01, length).astype(np.float32)
    out = denoised(noise)
    assert out.shape == (length,) and np.all(np.isfinite(out.astype(np.float32)))


def test_the_vad_hears_fewer_pauses_inside_speech_and_every_real_one(sentences: list[np.ndarray]) -> None:
    """In 10 dB noise Silero hears dips of speech as pauses; with the noise taken out, fewer."""
    continuous = _noisy(_lecture(sentences, 0.0, 60)[0], 10)
    raw, clean = find_silences(continuous).pauses, find_silences(continuous, denoise=True).pauses
    assert len(clean) < 0.8 * len(raw), (len(raw), len(clean))
    gapped, gaps = _lecture(sentences, 1.0, 60)
    found = find_silences(_noisy(gapped, 10), denoise=True).pauses
    for start, end in gaps[:-1]:
        assert any(abs(p.start - start) < 0.15 and abs(p.end - end) < 0.15 for p in found), (start, found)


def test_the_setting_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAD_DENOISE", raising=False)
    assert AlignmentOptions.from_settings(Settings()).vad_denoise is True
    monkeypatch.setenv("VAD_DENOISE", "false")
    assert AlignmentOptions.from_settings(Settings()).vad_denoise is False

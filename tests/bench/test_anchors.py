"""Placing pauses at word boundaries on long lectures (pure: synthetic pauses and words, no model)."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from worker.engine.anchors import Anchoring, place_pauses, units
from worker.engine.chunking import doubtful_stretches, windows
from worker.engine.vad import Pause

SECONDS_PER_UNIT = 0.075


@dataclass
class Lecture:
    words: list[str]
    pauses: list[Pause]
    duration: float
    truth: dict[Pause, int]  # the boundary each pause really falls at
    intro_end: float = 0.0


def lecture(minutes: float, seed: int, intro: bool = False) -> Lecture:
    """Sentences of 4–15 words spoken at a rate that changes every few minutes (×0.8–1.25, and fast
    quoted sentences ×1.6), pauses after sentences and some commas, fillers (speech not in the text)
    inside sentences and between pauses; optionally a music intro the VAD breaks into blips."""
    rng = random.Random(seed)
    words: list[str] = []
    pauses: list[Pause] = []
    truth: dict[Pause, int] = {}

    def pause(start: float, length: float, boundary: int) -> float:
        p = Pause(round(start, 3), round(start + length, 3))
        pauses.append(p)
        truth[p] = boundary
        return p.end

    t = 0.0
    if intro:  # music: the VAD hears a few short "speech" blips in it
        for start, end in ((0.0, 4.0), (4.3, 11.0), (11.2, 21.5)):
            t = pause(start, end - start, 0)
    block_rate, block_end = 1.0, 0.0
    while t < minutes * 60:
        if t >= block_end:
            block_rate, block_end = rng.choice([0.8, 0.9, 1.05, 1.25]), t + rng.uniform(120, 300)
        rate = SECONDS_PER_UNIT * (0.6 if rng.random() < 0.06 else block_rate * rng.uniform(0.9, 1.1))
        size = rng.randint(4, 15)
        for i in range(size):
            word = "א" * rng.randint(2, 7) + ("." if i == size - 1 else "," if rng.random() < 0.1 else "")
            words.append(word)
            t += units(word) * rate
            if i < size - 1 and word.endswith(",") and rng.random() < 0.5:
                t = pause(t, rng.uniform(0.2, 0.5), len(words))
            if i < size - 1 and rng.random() < 0.03:
                t += 0.35  # a filler
        t = pause(t, rng.choice([rng.uniform(0.2, 0.7)] * 3 + [rng.uniform(0.8, 2.5)]), len(words))
        if rng.random() < 0.05:  # a filler between two pauses
            t = pause(t + 0.3, 0.4, len(words))
    duration = t + 1.0
    pause(t, 1.0, len(words))
    return Lecture(words, pauses, duration, truth, 21.5 if intro else 0.0)


def placement_errors(data: Lecture) -> list[int]:
    cuts = place_pauses(data.words, data.pauses, data.duration).cuts
    assert len(cuts) > 0.9 * len(data.pauses)
    return [k - data.truth[p] for k, p in cuts]


def test_a_changing_speaking_rate_does_not_drift_the_text() -> None:
    errors = placement_errors(lecture(8, seed=3))
    wrong = [e != 0 for e in errors]
    assert sum(wrong) <= 0.06 * len(errors)
    assert max(abs(e) for e in errors) <= 6  # words: a local mistake, never a carried one
    longest_wrong_run = max((len(list(run)) for bad, run in itertools.groupby(wrong) if bad), default=0)
    assert longest_wrong_run <= 3


def test_the_cost_grows_linearly_with_the_lecture() -> None:
    """Candidate cells per pause are bounded (by the states kept per pause), not by the position in
    the lecture: a 4× longer lecture costs 4× (up to the first minutes, where fewer states exist)."""
    short, long = lecture(2, seed=5), lecture(8, seed=5)
    cells_short = place_pauses(short.words, short.pauses, short.duration, max_states=40).cells
    cells_long = place_pauses(long.words, long.pauses, long.duration, max_states=40).cells
    ratio = (cells_long / len(long.pauses)) / (cells_short / len(short.pauses))
    assert 0.7 < ratio < 1.5, ratio


def test_no_text_is_placed_in_a_music_intro() -> None:
    data = lecture(3, seed=7, intro=True)
    cuts = place_pauses(data.words, data.pauses, data.duration).cuts
    assert [k for k, p in cuts if p.start < data.intro_end] == [0, 0, 0]
    first_window = windows(cuts, len(data.words), data.duration, window=4.0)[0]
    assert first_window[0] == 0 and first_window[2] == data.intro_end


def test_several_pauses_at_one_boundary_act_as_one() -> None:
    cuts = [(0, Pause(0.0, 4.0)), (0, Pause(4.3, 11.0)), (3, Pause(14.0, 14.5)), (3, Pause(14.8, 15.2))]
    assert windows(cuts, 6, 20.0, window=0.01) == [(0, 3, 11.0, 14.0), (3, 6, 15.2, 20.0)]


def test_doubtful_stretches_are_reported_and_merged() -> None:
    anchoring = Anchoring(
        cuts=[],
        stretches=[
            (0, 10, 0.0, 4.0, 0.1),  # fits
            (10, 12, 4.5, 9.0, 1.2),  # far more speech than text: words there may be misplaced
            (12, 14, 9.3, 14.0, 0.9),  # and the next one too: one range
            (14, 14, 14.5, 30.0, float("inf")),  # 15 s of speech the text does not hold
            (14, 14, 30.5, 32.0, float("inf")),  # a filler: not worth a reviewer's time
            (14, 30, 32.5, 40.0, -0.2),
        ],
    )
    assert doubtful_stretches(anchoring) == [
        (4.5, 14.0, 10, 14, "text and speech lengths disagree"),
        (14.5, 30.0, 14, 14, "speech the text does not hold"),
    ]


def test_a_clean_lecture_raises_no_doubt() -> None:
    data = lecture(4, seed=11)
    assert doubtful_stretches(place_pauses(data.words, data.pauses, data.duration)) == []


def test_pauses_the_vad_is_unsure_of_do_not_drift_the_text() -> None:
    """Noise or echo: one dip of the speech probability (level 0.2) inside the speech for every two
    real pauses. They are not placed, and the real pauses still land where they belong."""
    data = lecture(8, seed=3)
    rng = random.Random(4)
    spurious = []
    for a, b in itertools.pairwise(data.pauses):
        start = rng.uniform(a.end, b.start - 0.4)
        if start > a.end + 0.2 and rng.random() < 0.5:
            spurious.append(Pause(round(start, 3), round(start + rng.uniform(0.2, 0.4), 3), level=0.2))
    noisy = sorted(data.pauses + spurious, key=lambda p: p.start)
    cuts = place_pauses(data.words, noisy, data.duration).cuts
    assert not any(p in spurious for _, p in cuts)
    errors = [k - data.truth[p] for k, p in cuts]
    assert sum(e != 0 for e in errors) <= 0.06 * len(errors)
    assert max(abs(e) for e in errors) <= 6

"""bench.vad_edges: pause edges scored against word-level truth."""

from __future__ import annotations

from bench.vad_edges import scored
from worker.engine.vad import Pause

# Three gaps of ≥ 0.1 s: 1.0-1.5, 2.5-3.0, 4.0-4.5 (a 50 ms one at 5.0 is no gap).
WORDS = [(0.0, 1.0), (1.5, 2.5), (3.0, 4.0), (4.5, 5.0), (5.05, 6.0)]


def test_edges_are_scored_against_the_gaps_they_overlap() -> None:
    found = [
        Pause(1.02, 1.49),  # both edges within 50 ms
        Pause(2.2, 3.3),  # starts 300 ms early (speech end lost), ends 300 ms late (onset lost)
        Pause(3.5, 3.6),  # inside speech
    ]
    pauses, inside, missed, starts, early, ends, late = scored(found, WORDS)
    assert (pauses, inside, missed) == ("3", "1", "1/3")  # the gap at 4.0-4.5 has no pause
    assert (starts, early, ends, late) == ("50.0 %", "1", "50.0 %", "1")


def test_no_pauses_miss_every_gap() -> None:
    assert scored([], WORDS)[:4] == ["0", "0", "3/3", "–"]

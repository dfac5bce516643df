"""bench.speed's profile times the anchoring where the worker really calls it."""

from __future__ import annotations

from bench.speed import ANCHORING, Profile
from worker.engine import chunking
from worker.engine.anchors import place_pauses
from worker.engine.vad import Pause


def test_the_profile_times_the_anchoring_the_worker_calls(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(chunking, "place_pauses", chunking.place_pauses)  # undone after the test
    profile = Profile()
    profile.install_anchoring(chunking)
    assert chunking.place_pauses is not place_pauses  # wrapped in the namespace chunking calls from
    chunking.place_pauses(["שלום", "עולם", "גדול"], [Pause(1.0, 1.4)], 2.5, 0.2)
    assert profile.calls[ANCHORING] == 1 and profile.cpu[ANCHORING] >= 0

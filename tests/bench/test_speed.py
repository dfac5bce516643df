"""bench.speed's profile times the anchoring where the worker really calls it."""

from __future__ import annotations

import sys

import pytest

import worker.engine.alignment  # noqa: F401 (imports every caller of place_pauses first)
from bench.speed import ANCHORING, Profile
from worker.engine import anchors
from worker.engine.vad import Pause


def test_the_profile_times_the_anchoring_everywhere_the_worker_calls_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    profile = Profile()
    for name, module in list(sys.modules.items()):  # each binding is put back after the test
        if name.startswith("worker.") and hasattr(module, "place_pauses"):
            monkeypatch.setattr(module, "place_pauses", module.place_pauses)
    wrapped = profile.install_anchoring()
    assert "worker.engine.chunking" in wrapped and "worker.engine.anchors" not in wrapped
    for name in wrapped:
        sys.modules[name].place_pauses(["שלום", "עולם", "גדול"], [Pause(1.0, 1.4)], 2.5, 0.2)
    assert profile.calls[ANCHORING] == len(wrapped) and profile.cpu[ANCHORING] >= 0
    assert anchors.place_pauses is not sys.modules[wrapped[0]].place_pauses

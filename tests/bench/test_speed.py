"""bench.speed times the anchoring and the pipeline's own steps where the worker really calls them."""

from __future__ import annotations

import sys
import time

import pytest

import worker.engine.alignment  # noqa: F401 (imports every caller of place_pauses first)
from bench.speed import ANCHORING, OWN_STEPS, Profile
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


def test_the_pipelines_own_steps_are_timed_where_the_worker_calls_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every step the profile names is found where the worker calls it (a rename fails here)."""
    profile = Profile()
    for label, (home, function) in OWN_STEPS.items():
        for name, module in list(sys.modules.items()):
            if name.startswith("worker.") and hasattr(module, function):
                monkeypatch.setattr(module, function, getattr(module, function))
        assert profile.wrap_everywhere(label, home, function)


def test_a_call_inside_another_is_counted_for_itself_only() -> None:
    """The probes call the networks: their own CPU excludes the networks' (exclusive timing)."""
    profile = Profile()

    def burn(seconds: float) -> None:
        until = time.process_time() + seconds
        while time.process_time() < until:
            pass

    inner = profile.wrap("inner", lambda: burn(0.2))
    outer = profile.wrap("outer", lambda: (burn(0.05), inner()))
    outer()
    assert profile.cpu["inner"] >= 0.2
    assert 0.05 <= profile.cpu["outer"] < 0.15
    assert profile.calls == {"inner": 1, "outer": 1}

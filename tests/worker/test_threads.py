"""CPU threads default to what the container may use, not the host's core count."""

from __future__ import annotations

import os
from pathlib import Path

from worker.engine.models import usable_cpus


def test_a_cgroup_cpu_limit_caps_the_threads(tmp_path: Path) -> None:
    cpus = len(os.sched_getaffinity(0))
    limit = tmp_path / "cpu.max"
    limit.write_text("150000 100000\n")  # limits.cpu: 1.5 -> 2 threads
    assert usable_cpus(limit) == min(cpus, 2)
    limit.write_text("50000 100000\n")  # half a CPU still gets one thread
    assert usable_cpus(limit) == 1


def test_no_limit_means_the_cpus_of_this_process(tmp_path: Path) -> None:
    cpus = len(os.sched_getaffinity(0))
    limit = tmp_path / "cpu.max"
    limit.write_text("max 100000\n")
    assert usable_cpus(limit) == cpus
    assert usable_cpus(tmp_path / "missing") == cpus  # cgroup v1 or no cgroup at all

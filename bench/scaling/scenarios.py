"""The queue scenarios the chart is judged on. A lecture's work is a 45-minute recording aligned on a
GPU (about 1–2.5 min with download and upload); the machinery's timings are `cluster.Timing`'s."""

from __future__ import annotations

from dataclasses import replace

from bench.scaling.cluster import Timing
from bench.scaling.queue import Lecture
from bench.scaling.sim import Scenario

START = 5.0  # messages arrive just after a polling cycle, as they would at any moment


def work(i: int) -> float:
    """60–150 s, spread deterministically so runs are reproducible."""
    return 60.0 + (i * 37) % 91


def burst(n: int, at: float = START) -> tuple[Lecture, ...]:
    return tuple(Lecture(at, work(i)) for i in range(n))


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("burst-50", "50 lectures sent at once", burst(50)),
        Scenario(
            "trickle",
            "12 lectures, one every 20 min",
            tuple(Lecture(START + i * 1200, work(i)) for i in range(12)),
        ),
        Scenario("long-lecture", "one lecture that takes 30 min to align", (Lecture(START, 1800.0),)),
        Scenario(
            "slow-node",
            "10 lectures at once; GPU nodes take 15 min to start",
            burst(10),
            timing=replace(Timing(), node_start=900.0),
        ),
        Scenario(
            "poison",
            "10 lectures behind one that kills its pod (OOM) and one with unusable input",
            (Lecture(START, 60.0, "crash"), Lecture(START, 60.0, "bad"), *burst(10)),
        ),
        Scenario("helm-upgrade", "20 lectures; `helm upgrade` 10 min in", burst(20), upgrade_at=600.0),
    )
}

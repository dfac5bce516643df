"""The replay's table (markdown, as in the chart README) and its plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.scaling.sim import Result

COLUMNS = (
    "scenario",
    "policy",
    "Jobs started",
    "idle Jobs",
    "failed Jobs",
    "node launches",
    "GPU-node-min",
    "latency mean (min)",
    "latency max (min)",
    "to zero (min)",
    "redone",
    "old template",
    "lost",
)


def row(r: Result) -> tuple[str, ...]:
    return (
        r.scenario,
        r.policy,
        str(r.jobs_started),
        str(r.idle_jobs),
        str(r.failed_jobs),
        str(r.node_launches),
        f"{r.node_minutes:.0f}",
        f"{r.latency_mean / 60:.1f}",
        f"{r.latency_max / 60:.1f}",
        f"{r.zero_after / 60:.1f}",
        str(r.interrupted),
        str(r.stale),
        str(r.lost),
    )


def markdown(results: Sequence[Result]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row(r)) + " |" for r in results]
    return "\n".join(lines) + "\n"


def plot(results: Sequence[Result], path: Path) -> None:
    """One panel per scenario: GPU nodes over time for each policy (left axis), and the chart's queue
    (visible + in flight, right axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(dict.fromkeys(r.scenario for r in results))
    fig, axes = plt.subplots(len(scenarios), 1, figsize=(10, 2.4 * len(scenarios)), squeeze=False)
    for ax, scenario in zip(axes[:, 0], scenarios, strict=True):
        runs = [r for r in results if r.scenario == scenario]
        queue_axis = ax.twinx()
        queue = runs[0].timeline
        queue_axis.fill_between(
            [t / 60 for t, *_ in queue], [q for _, q, *_ in queue], color="0.9", step="post"
        )
        queue_axis.set_ylabel("messages", color="0.5")
        ax.set_zorder(queue_axis.get_zorder() + 1)
        ax.patch.set_visible(False)
        for r in runs:
            minutes = [t / 60 for t, *_ in r.timeline]
            label = f"{r.policy}: {r.node_launches} launches, {r.node_minutes:.0f} node-min"
            ax.step(minutes, [n for *_, n in r.timeline], where="post", label=label)
        ax.set_title(f"{scenario} (grey: {runs[0].policy}'s queue)", loc="left", fontsize=10)
        ax.set_ylabel("GPU nodes")
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("minutes")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)

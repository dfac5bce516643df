"""Replay the queue scenarios under the chart's rendered values, the chart with one lecture per Job
(MAX_MESSAGES=1, the previous default), and the old ASG + CloudWatch alarm policy.

    uv run python -m bench.scaling                      # table + bench/scaling/scaling.png
    uv run python -m bench.scaling -f my-values.yaml    # your values on top of ci/01-default-values.yaml
    uv run python -m bench.scaling --sweep              # burst and trickle for several MAX_MESSAGES
    uv run python -m bench.scaling --consolidate-after 60   # your NodePool's consolidateAfter (s)
    uv run python -m bench.scaling --write-readme       # refresh the chart README's scaling table
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from bench.scaling import chart, report
from bench.scaling.scenarios import SCENARIOS
from bench.scaling.sim import AsgPolicy, ChartPolicy, Result, Scenario, run_asg, run_keda

PLOT = Path(__file__).resolve().parent / "scaling.png"
README = chart.CHART / "README.md"
BEGIN, END = "<!-- scaling-table: begin -->", "<!-- scaling-table: end -->"
SWEEP = (1, 2, 3, 5, 8, 10)


def replay(policy: ChartPolicy, scenarios: dict[str, Scenario] = SCENARIOS) -> list[Result]:
    one_per_job = dataclasses.replace(policy, max_messages=1, name=f"{policy.name}, MAX_MESSAGES=1")
    results = []
    for scenario in scenarios.values():
        results += [run_keda(scenario, policy), run_keda(scenario, one_per_job)]
        results.append(run_asg(scenario, AsgPolicy()))
    return results


def write_readme(table: str) -> bool:
    text = README.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{table}{END}{tail}"
    changed = new != text
    README.write_text(new)
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-f", "--values", type=Path, action="append", default=[], help="extra values file")
    parser.add_argument("--plot", type=Path, default=PLOT, help=f"where the plot goes (default {PLOT.name})")
    parser.add_argument("--sweep", action="store_true", help="burst-50 and trickle for several MAX_MESSAGES")
    parser.add_argument("--write-readme", action="store_true", help="rewrite the chart README's table")
    parser.add_argument(
        "--consolidate-after", type=float, help="seconds an empty GPU node lives (Karpenter consolidateAfter)"
    )
    args = parser.parse_args()
    scenarios = SCENARIOS
    if args.consolidate_after is not None:
        if args.write_readme:
            parser.error("the README's table is for the model's own assumptions: drop --consolidate-after")
        scenarios = {
            name: dataclasses.replace(
                s, timing=dataclasses.replace(s.timing, consolidate_after=args.consolidate_after)
            )
            for name, s in SCENARIOS.items()
        }

    policy = chart.policy(chart.render([chart.DEFAULT_VALUES, *args.values]), name="chart")
    timing = next(iter(scenarios.values())).timing
    print(f"chart: {policy}\ncluster: {timing} (slow-node: node_start=900)\n")
    if args.sweep:
        results = [
            run_keda(scenarios[name], dataclasses.replace(policy, max_messages=k, name=f"MAX_MESSAGES={k}"))
            for name in ("burst-50", "trickle")
            for k in SWEEP
        ]
        results += [run_asg(scenarios[name], AsgPolicy()) for name in ("burst-50", "trickle")]
        print(report.markdown(sorted(results, key=lambda r: r.scenario)))
        return 0
    results = replay(policy, scenarios)
    print(report.markdown(results))
    report.plot(results, args.plot)
    print(f"plot: {args.plot}")
    if args.write_readme:
        write_readme(report.markdown(results))
        print(f"table written to {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

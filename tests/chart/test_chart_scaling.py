"""How the chart's rendered values scale, asserted as behaviour through the model of KEDA's ScaledJob
(bench/scaling), against the old Auto Scaling Group policy replayed on the same queue."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bench.scaling import chart as model_chart
from bench.scaling import report
from bench.scaling.__main__ import BEGIN, END, README, replay
from bench.scaling.scenarios import SCENARIOS
from bench.scaling.sim import AsgPolicy, ChartPolicy, Result, run_keda

Objects = list[dict[str, Any]]


@pytest.fixture(scope="module")
def policy(default_objects: Objects) -> ChartPolicy:
    return model_chart.policy(default_objects)


@pytest.fixture(scope="module")
def runs(policy: ChartPolicy) -> list[Result]:
    """Each scenario under the chart, the chart with one lecture per Job, the old ASG: the README table."""
    return replay(policy)


@pytest.fixture(scope="module")
def chart_runs(runs: list[Result], policy: ChartPolicy) -> dict[str, Result]:
    return {r.scenario: r for r in runs if r.policy == policy.name}


@pytest.fixture(scope="module")
def one_per_job_runs(runs: list[Result], policy: ChartPolicy) -> dict[str, Result]:
    return {r.scenario: r for r in runs if r.policy not in (policy.name, AsgPolicy.name)}


@pytest.fixture(scope="module")
def asg_runs(runs: list[Result]) -> dict[str, Result]:
    return {r.scenario: r for r in runs if r.policy == AsgPolicy.name}


@pytest.mark.parametrize("name", SCENARIOS)
def test_nothing_is_lost_and_it_scales_to_zero(
    chart_runs: dict[str, Result], policy: ChartPolicy, name: str
) -> None:
    run = chart_runs[name]
    assert run.lost == 0
    # No Job and no GPU node soon after the queue is empty: the idle wait, one poll and a little slack.
    assert run.zero_after <= policy.idle_timeout + policy.polling_interval + 60


@pytest.mark.parametrize("name", SCENARIOS)
def test_never_more_jobs_than_lectures(chart_runs: dict[str, Result], policy: ChartPolicy, name: str) -> None:
    run, lectures = chart_runs[name], SCENARIOS[name].lectures
    crashes = sum(1 for lecture in lectures if lecture.kind == "crash")
    # a pod killed by a poison message ends its Job; its message gets a new one, until the dead-letter queue
    assert run.jobs_started <= len(lectures) + crashes * SCENARIOS[name].timing.max_receive_count
    assert run.max_jobs <= policy.scaled_job.max_replicas


def test_a_burst_keeps_nodes_instead_of_launching_one_per_lecture(
    chart_runs: dict[str, Result], one_per_job_runs: dict[str, Result], asg_runs: dict[str, Result]
) -> None:
    burst, old, one_per_job = chart_runs["burst-50"], asg_runs["burst-50"], one_per_job_runs["burst-50"]
    assert burst.node_launches <= 12
    assert burst.node_launches * 2 <= one_per_job.node_launches
    assert burst.idle_jobs <= 1
    assert burst.node_minutes <= 1.25 * old.node_minutes
    assert burst.latency_max <= 1.35 * old.latency_max


def test_a_trickle_costs_far_less_than_the_old_policy(
    chart_runs: dict[str, Result], asg_runs: dict[str, Result]
) -> None:
    trickle, old = chart_runs["trickle"], asg_runs["trickle"]
    assert trickle.idle_jobs == 0
    assert trickle.node_minutes <= old.node_minutes / 2
    assert trickle.latency_max <= old.latency_max


def test_slow_nodes_get_no_duplicate_jobs(chart_runs: dict[str, Result]) -> None:
    slow = chart_runs["slow-node"]
    assert slow.idle_jobs == 0
    assert slow.jobs_started <= len(SCENARIOS["slow-node"].lectures)


def test_a_poison_message_ends_in_the_dead_letter_queue(
    chart_runs: dict[str, Result], policy: ChartPolicy
) -> None:
    poison = chart_runs["poison"]
    assert poison.dead_letters == 2  # the pod killer after maxReceiveCount, the bad input at once
    assert len(poison.latencies) == 10  # every other lecture aligned
    # The bad input's Job fails (exit 1 → FailJob), and so does every Job whose pod the poison message killed.
    assert 2 <= poison.failed_jobs <= 1 + SCENARIOS["poison"].timing.max_receive_count
    assert policy.fail_job_on_exit_1


def test_helm_upgrade_interrupts_nothing(chart_runs: dict[str, Result], policy: ChartPolicy) -> None:
    upgrade = chart_runs["helm-upgrade"]
    assert upgrade.interrupted == 0
    # The old template finishes at most the lectures its running Jobs still take.
    assert upgrade.stale <= policy.max_messages * policy.scaled_job.max_replicas
    immediate = run_keda(SCENARIOS["helm-upgrade"], dataclasses.replace(policy, rollout="immediate"))
    assert immediate.interrupted >= 1 and immediate.lost == 0


def test_the_readme_table_comes_from_the_model(runs: list[Result]) -> None:
    section = README.read_text().split(BEGIN, 1)[1].split(END, 1)[0]
    stale = "run: uv run python -m bench.scaling --write-readme"
    assert section.strip() == report.markdown(runs).strip(), stale


def test_a_node_pool_that_outlives_a_poll_reuses_its_nodes(
    policy: ChartPolicy, asg_runs: dict[str, Result]
) -> None:
    """consolidateAfter ≥ pollingInterval: the next Job lands on the node the last one left."""
    scenario = SCENARIOS["burst-50"]
    timing = dataclasses.replace(scenario.timing, consolidate_after=float(policy.polling_interval))
    burst = run_keda(dataclasses.replace(scenario, timing=timing), policy)
    assert burst.node_launches == policy.scaled_job.max_replicas
    assert burst.node_minutes <= asg_runs["burst-50"].node_minutes
    assert burst.latency_max <= 1.1 * asg_runs["burst-50"].latency_max

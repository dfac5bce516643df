"""Replays a queue scenario second by second under the chart's ScaledJob or the old ASG + alarm policy.

KEDA side: every `pollingInterval` the ScaledJob decision of `bench.scaling.keda` creates Jobs; each
Job's pod waits for a GPU node (Karpenter launches one per pending pod that no free node can take),
runs the worker in drain mode (MAX_MESSAGES, IDLE_TIMEOUT_SECONDS) and ends Complete or Failed by the
chart's backoffLimit / podFailurePolicy / activeDeadlineSeconds. `helm upgrade` bumps the template;
`rollout: immediate` deletes the unfinished Jobs (SIGTERM, SHUTDOWN_GRACE_SECONDS), `gradual` does not.

ASG side (/work/shared/seed: `portal-timestamp-fix`): every 60 s CloudWatch closes a period of the SQS
metrics (published `metric_delay` late); `Visible > 0` sets the capacity to 2, `Visible + NotVisible ≤ 0`
for 5 periods sets it to 0; simple scaling waits out its cooldown after each change. An instance's
worker never exits by itself; a crashed one is restarted; scale-in kills instances outright.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Literal

from bench.scaling.cluster import Node, Timing, Worker
from bench.scaling.keda import ScaledJobPolicy
from bench.scaling.queue import Lecture, Queue, State

HORIZON_SECONDS = 24 * 3600
SAMPLE_SECONDS = 30


@dataclass(frozen=True)
class ChartPolicy:
    """The chart's rendered ScaledJob and worker settings, as far as scaling goes."""

    scaled_job: ScaledJobPolicy
    polling_interval: int
    max_messages: int
    idle_timeout: float
    shutdown_grace: float
    active_deadline: float
    backoff_limit: int
    fail_job_on_exit_1: bool
    rollout: Literal["gradual", "immediate"]
    visibility_timeout: float
    name: str = "chart"


@dataclass(frozen=True)
class AsgPolicy:
    """The old Auto Scaling Group and its two CloudWatch alarms."""

    capacity: int = 2
    period: int = 60
    metric_delay: int = 60  # SQS publishes its metrics to CloudWatch once a minute, a period late
    scale_in_periods: int = 5
    cooldown: int = 300  # simple scaling's default cooldown
    name: str = "old ASG"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    lectures: tuple[Lecture, ...]
    timing: Timing = field(default_factory=Timing)
    upgrade_at: float | None = None  # `helm upgrade` (KEDA) / a new launch template (ASG)


@dataclass
class Result:
    scenario: str
    policy: str
    jobs_started: int = 0  # Jobs created (KEDA) or instances launched (ASG)
    idle_jobs: int = 0  # of those, the ones that aligned nothing
    failed_jobs: int = 0
    max_jobs: int = 0  # most Jobs (instances) unfinished at once
    node_launches: int = 0
    node_minutes: float = 0.0
    latencies: list[float] = field(default_factory=list)  # sent → aligned, per aligned lecture
    dead_letters: int = 0
    lost: int = 0  # messages neither aligned nor dead-lettered when the run ended
    interrupted: int = 0  # alignments cut off and redone
    stale: int = 0  # lectures started by an old template after the upgrade
    zero_after: float = 0.0  # seconds from the last settled message to no Job and no node
    timeline: list[tuple[float, int, int, int]] = field(default_factory=list)  # t, queued, jobs, nodes

    @property
    def latency_mean(self) -> float:
        return statistics.fmean(self.latencies) if self.latencies else 0.0

    @property
    def latency_max(self) -> float:
        return max(self.latencies, default=0.0)


@dataclass(eq=False)
class Job:
    created: float
    workers: list[Worker]
    failures: int = 0
    finished_at: float | None = None
    failed: bool = False

    @property
    def worker(self) -> Worker:
        return self.workers[-1]


def _launch(nodes: list[Node], now: float, timing: Timing) -> Node:
    node = Node(launched_at=now, ready_at=now + timing.node_start)
    nodes.append(node)
    return node


def _settle(result: Result, queue: Queue, nodes: list[Node], now: float, last_settled: float) -> None:
    for message in queue.messages:
        if message.state is State.DONE and message.finished_at is not None:
            result.latencies.append(message.finished_at - message.lecture.arrival)
        elif message.state is State.DEAD:
            result.dead_letters += 1
        else:
            result.lost += 1
    result.node_launches = len(nodes)
    result.node_minutes = sum(node.minutes(now) for node in nodes)
    result.zero_after = now - last_settled


def _stale(workers: list[Worker], version: int, upgrade_at: float | None) -> int:
    """Lectures a worker of an older template received after the upgrade."""
    if upgrade_at is None:
        return 0
    return sum(1 for w in workers if w.version < version for t in (w.received_after or []) if t >= upgrade_at)


def _last_settled(queue: Queue) -> float:
    return max((m.finished_at or 0.0) for m in queue.messages)


def run_keda(scenario: Scenario, policy: ChartPolicy, horizon: int = HORIZON_SECONDS) -> Result:
    timing = replace(scenario.timing, visibility_timeout=policy.visibility_timeout)
    queue = Queue(list(scenario.lectures), timing.visibility_timeout, timing.max_receive_count)
    result = Result(scenario.name, policy.name)
    jobs: list[Job] = []
    nodes: list[Node] = []
    version = 0

    def new_worker() -> Worker:
        return Worker(version, policy.max_messages, policy.idle_timeout, received_after=[])

    now = 0.0
    for second in range(horizon + 1):
        now = float(second)
        if scenario.upgrade_at is not None and now == scenario.upgrade_at:
            version += 1
            if policy.rollout == "immediate":  # KEDA deletes the previous generation's Jobs
                for job in (j for j in jobs if j.finished_at is None):
                    job.finished_at = now
                    job.worker.stop(now, policy.shutdown_grace)
        workers = [w for j in jobs for w in j.workers if w.exit_code is None]
        for worker in workers:
            worker.step(now, queue, timing)
        for job in (j for j in jobs if j.finished_at is None):
            code = job.worker.exit_code
            if code == 0:
                job.finished_at = now
            elif code is not None:
                job.failures += 1
                if (code == 1 and policy.fail_job_on_exit_1) or job.failures > policy.backoff_limit:
                    job.finished_at, job.failed = now, True
                else:
                    job.workers.append(new_worker())
            elif now - job.created >= policy.active_deadline:
                job.finished_at, job.failed = now, True  # DeadlineExceeded: its pod gets SIGTERM
                job.worker.stop(now, policy.shutdown_grace)
        unfinished = [j for j in jobs if j.finished_at is None]
        if second % policy.polling_interval == 0:
            pending = sum(1 for j in unfinished if not j.worker.running)
            created = policy.scaled_job.new_jobs(queue.counts(now), len(unfinished), pending)
            for _ in range(created):
                job = Job(created=now, workers=[new_worker()])
                jobs.append(job)
                unfinished.append(job)
        result.max_jobs = max(result.max_jobs, len(unfinished))
        # kube-scheduler binds waiting pods to Ready nodes with a free GPU; Karpenter launches the rest.
        waiting = [
            w for j in jobs for w in j.workers if w.node is None and w.exit_code is None and w.stop_at is None
        ]
        for node in nodes:
            if node.alive and node.ready_at <= now and node.worker is None and node.free_since is None:
                node.free_since = node.ready_at
        free = [n for n in nodes if n.alive and n.ready_at <= now and n.worker is None]
        for worker, node in zip(waiting, free, strict=False):
            worker.bind(node, now, timing.pod_start)
        launching = sum(1 for n in nodes if n.alive and n.ready_at > now)
        for _ in range(max(0, len(waiting) - len(free) - launching)):
            _launch(nodes, now, timing)
        for node in nodes:
            if (
                node.alive
                and node.worker is None
                and node.free_since is not None
                and now - node.free_since >= timing.consolidate_after
            ):
                node.ended_at = now
        if second % SAMPLE_SECONDS == 0:
            counts = queue.counts(now)
            alive = sum(1 for n in nodes if n.alive)
            result.timeline.append((now, counts.visible + counts.in_flight, len(unfinished), alive))
        if (
            now >= max(m.lecture.arrival for m in queue.messages)
            and queue.settled()
            and not unfinished
            and not any(w.exit_code is None for j in jobs for w in j.workers)
            and not any(n.alive for n in nodes)
        ):
            break
    all_workers = [w for j in jobs for w in j.workers]
    result.jobs_started = len(jobs)
    result.idle_jobs = sum(1 for j in jobs if not any(w.handled or w.message for w in j.workers))
    result.failed_jobs = sum(1 for j in jobs if j.failed)
    result.interrupted = sum(w.interrupted for w in all_workers)
    result.stale = _stale(all_workers, version, scenario.upgrade_at)
    _settle(result, queue, nodes, now, _last_settled(queue))
    return result


def run_asg(scenario: Scenario, policy: AsgPolicy, horizon: int = HORIZON_SECONDS) -> Result:
    timing = scenario.timing
    queue = Queue(list(scenario.lectures), timing.visibility_timeout, timing.max_receive_count)
    result = Result(scenario.name, policy.name)
    nodes: list[Node] = []
    instances: list[tuple[Node, list[Worker]]] = []
    visible: list[int] = []
    total: list[int] = []
    periods: list[float] = []
    desired, last_change, version = 0, -float(policy.cooldown), 0

    now = 0.0
    for second in range(horizon + 1):
        now = float(second)
        if scenario.upgrade_at is not None and now == scenario.upgrade_at:
            version += 1  # a new launch template: running instances keep the old one
        for node, workers in instances:
            worker = workers[-1]
            worker.step(now, queue, timing)
            if node.alive and worker.exit_code is not None:  # the container restarts on the instance
                restarted = Worker(worker.version, received_after=[])
                restarted.bind(node, now, timing.pod_start)
                workers.append(restarted)
        counts = queue.counts(now)
        visible.append(counts.visible)
        total.append(counts.visible + counts.in_flight)
        if second and second % policy.period == 0 and second >= policy.period + policy.metric_delay:
            end = second - policy.metric_delay
            window = slice(end - policy.period, end)
            visible_average = statistics.fmean(visible[window])
            periods.append(statistics.fmean(total[window]))
            if now - last_change >= policy.cooldown:
                recent = periods[-policy.scale_in_periods :]
                if visible_average > 0 and desired != policy.capacity:
                    desired, last_change = policy.capacity, now
                elif len(recent) == policy.scale_in_periods and all(p <= 0 for p in recent) and desired != 0:
                    desired, last_change = 0, now
        alive = [(n, ws) for n, ws in instances if n.alive]
        for _ in range(desired - len(alive)):
            node = _launch(nodes, now, timing)
            worker = Worker(version, received_after=[])
            worker.bind(node, now, timing.pod_start)
            instances.append((node, [worker]))
        for node, workers in alive[desired:] if len(alive) > desired else []:
            workers[-1].kill(now, queue, timing)
            node.ended_at = now
        running = sum(1 for n, _ in instances if n.alive)
        result.max_jobs = max(result.max_jobs, running)
        if second % SAMPLE_SECONDS == 0:
            result.timeline.append((now, counts.visible + counts.in_flight, running, running))
        if now >= max(m.lecture.arrival for m in queue.messages) and queue.settled() and running == 0:
            break
    all_workers = [w for _, ws in instances for w in ws]
    result.jobs_started = len(instances)
    result.idle_jobs = sum(1 for _, ws in instances if not any(w.handled for w in ws))
    result.failed_jobs = 0
    result.interrupted = sum(w.interrupted for w in all_workers)
    result.stale = _stale(all_workers, version, scenario.upgrade_at)
    _settle(result, queue, nodes, now, _last_settled(queue))
    return result

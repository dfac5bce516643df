"""The model of KEDA's ScaledJob decision (bench/scaling/keda.py) against KEDA 2.20.2's own test cases,
and the simulator's parts (queue, worker) on small cases whose outcome is known by hand."""

from __future__ import annotations

import pytest

from bench.scaling.cluster import Node, Timing, Worker
from bench.scaling.keda import (
    Counts,
    ScaledJobPolicy,
    Trigger,
    effective_max_scale,
    is_active,
    jobs_to_create,
    queue_length,
    scale_to_and_max_scale,
    scaling_decision,
)
from bench.scaling.queue import Lecture, Queue, State

# pkg/scaling/executor/scale_jobs_test.go:
# GetEffectiveMaxScale(maxScale, running, pending, maxReplicaCount, scaleTo) → effectiveMaxScale
GO_CASES = [
    ("default", (3, 2, 0, 5, 1), 1),
    ("default", (2, 0, 0, 5, 1), 2),
    ("accurate", (3, 2, 0, 5, 1), 3),
    ("accurate", (5, 2, 0, 5, 1), 3),
    ("accurate", (3, 4, 2, 10, 1), 1),
    ("accurate", (5, 4, 2, 5, 1), 1),
    ("accurate", (3, 3, 3, 5, 1), 0),
    ("accurate", (15, 15, 15, 20, 1), 0),
    ("accurate", (10, 10, 10, 15, 1), 0),
    ("accurate", (20, 15, 10, 20, 1), 5),
    ("eager", (4, 3, 0, 10, 1), 4),
    ("eager", (4, 0, 3, 10, 1), 4),
    ("eager", (4, 7, 0, 10, 1), 3),
    ("eager", (4, 1, 6, 10, 1), 3),
    ("eager", (15, 0, 0, 10, 1), 10),
]


@pytest.mark.parametrize(("strategy", "args", "expected"), GO_CASES)
def test_strategies_match_kedas_tests(strategy: str, args: tuple[int, ...], expected: int) -> None:
    max_scale, running, pending, max_replicas, scale_to = args
    effective, new_scale_to = effective_max_scale(
        strategy,  # type: ignore[arg-type]
        max_scale,
        running,
        pending,
        max_replicas,
        scale_to,
    )
    assert effective == expected
    assert new_scale_to == (max_replicas if strategy == "eager" else scale_to)


def test_min_replicas_are_topped_up_first() -> None:
    """TestRunningJobCountSmallerMinReplicaCount / …IsDeductedFromMinReplicaCount / …GreaterOrEqual…."""
    kw = {"max_replicas": 10, "pending": 0}
    assert scaling_decision("default", min_replicas=2, running=0, scale_to=0, max_scale=0, **kw) == (2, 2)
    assert scaling_decision("default", min_replicas=2, running=1, scale_to=0, max_scale=0, **kw) == (1, 1)
    assert scaling_decision("default", min_replicas=1, running=1, scale_to=2, max_scale=2, **kw) == (2, 2)


def test_the_sqs_scaler_sums_what_it_counts() -> None:
    counts = Counts(visible=3, in_flight=2, delayed=4)
    assert queue_length(counts, Trigger(scale_on_in_flight=True)) == 5
    assert queue_length(counts, Trigger(scale_on_in_flight=False)) == 3
    assert queue_length(counts, Trigger(scale_on_in_flight=True, scale_on_delayed=True)) == 9
    assert is_active(1, Trigger(activation_queue_length=0))
    assert not is_active(2, Trigger(activation_queue_length=2))
    assert is_active(0, Trigger(), min_replicas=1)


def test_max_scale_divides_by_queue_length_but_scale_to_does_not() -> None:
    """metrics.go: maxScale = ⌈min(messages / queueLength, max)⌉, scaleTo = ⌈messages⌉."""
    assert scale_to_and_max_scale(7, Trigger(queue_length=5), 100) == (7, 2)
    assert scale_to_and_max_scale(50, Trigger(queue_length=1), 2) == (50, 2)
    assert jobs_to_create(0, 50) == 0 and jobs_to_create(-1, 5) == 0 and jobs_to_create(2, 50) == 2


def test_default_strategy_never_duplicates_a_starting_job() -> None:
    policy = ScaledJobPolicy(Trigger(queue_length=1), "default", max_replicas=2)
    assert policy.new_jobs(Counts(visible=1), running=0, pending=0) == 1
    # The Job's pod still waits for a node; its message is still visible: no second Job.
    assert policy.new_jobs(Counts(visible=1), running=1, pending=1) == 0
    assert policy.new_jobs(Counts(visible=40, in_flight=2), running=2, pending=0) == 0
    assert policy.new_jobs(Counts(visible=0), running=0, pending=0) == 0


def test_redrive_moves_a_message_past_max_receive_count() -> None:
    queue = Queue([Lecture(0, 10, "crash")], visibility_timeout=120, max_receive_count=2)
    for attempt in range(2):
        now = attempt * 200.0
        message = queue.receive(now)
        assert message is not None and message.receives == attempt + 1
        queue.release(message, now + 120)  # its pod died: hidden until the visibility timeout ends
        assert queue.counts(now + 119) == Counts(visible=0, in_flight=1)
        assert queue.counts(now + 120) == Counts(visible=1, in_flight=0)
    assert queue.receive(400.0) is None
    assert queue.messages[0].state is State.DEAD


def test_drain_worker_stops_after_max_messages_and_fails_on_bad_input() -> None:
    queue = Queue([Lecture(0, 30), Lecture(0, 30, "bad"), Lecture(0, 30)])
    worker = Worker(version=0, max_messages=2, idle_timeout=150)
    worker.bind(Node(launched_at=0, ready_at=0), 0, pod_start=0)
    for second in range(200):
        worker.step(float(second), queue, Timing())
    assert worker.exit_code == 1  # one of its two lectures failed for good
    assert [m.state for m in queue.messages] == [State.DONE, State.DEAD, State.WAITING]


def test_idle_worker_exits_zero_after_the_idle_timeout() -> None:
    queue = Queue([Lecture(1000, 30)])
    worker = Worker(version=0, max_messages=5, idle_timeout=150)
    worker.bind(Node(launched_at=0, ready_at=0), 0, pod_start=20)
    for second in range(400):
        worker.step(float(second), queue, Timing())
    assert (worker.exit_code, worker.ended_at) == (0, 170.0)


def test_sigterm_releases_an_unfinished_lecture() -> None:
    queue = Queue([Lecture(0, 600)])
    worker = Worker(version=0, max_messages=5, idle_timeout=150)
    worker.bind(Node(launched_at=0, ready_at=0), 0, pod_start=0)
    worker.step(0, queue, Timing())
    worker.stop(10, grace=90)
    for second in range(10, 200):
        worker.step(float(second), queue, Timing())
    assert worker.ended_at == 100 and worker.interrupted == 1
    assert queue.messages[0].state is State.WAITING and queue.messages[0].visible_at == 100

"""GPU nodes and the worker processes on them, shared by the KEDA and the Auto Scaling Group models.

A node holds one GPU, so one worker. It is launched for a pod (Karpenter) or an instance (the ASG),
is Ready after `node_start` (boot, GPU driver, the multi-GB image pulled), and a worker on it polls the
queue `pod_start` later (container start and model load). An empty node is removed after
`consolidate_after` (Karpenter's `consolidateAfter`); a busy one never is (`do-not-disrupt`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.scaling.queue import Message, Queue, State

BAD_INPUT_SECONDS = 10.0  # a worker needs a few seconds to find that a message's input is unusable


@dataclass(frozen=True)
class Timing:
    """How long the machinery takes; the model's assumptions, printed with every run."""

    node_start: float = 240.0
    pod_start: float = 20.0
    consolidate_after: float = 0.0
    crash_after: float = 60.0  # a `crash` lecture kills its pod this long after it is received
    visibility_timeout: float = 120.0  # the worker's default VISIBILITY_TIMEOUT_SECONDS
    max_receive_count: int = 3  # the work queue's redrive policy


@dataclass(eq=False)
class Node:
    launched_at: float
    ready_at: float
    worker: Worker | None = None
    free_since: float | None = None
    ended_at: float | None = None

    @property
    def alive(self) -> bool:
        return self.ended_at is None

    def minutes(self, now: float) -> float:
        return ((self.ended_at if self.ended_at is not None else now) - self.launched_at) / 60


@dataclass(eq=False)
class Worker:
    """The `timestamp worker` process: receive, align, delete; in drain mode it exits by itself."""

    version: int
    max_messages: int = 0  # 0: no limit (the old instances' worker)
    idle_timeout: float = 0.0  # 0: never exit when idle
    node: Node | None = None
    ready_at: float | None = None  # polls the queue from then on
    message: Message | None = None
    busy_until: float = 0.0
    idle_since: float = 0.0
    handled: int = 0
    failed: bool = False
    stop_at: float | None = None  # SIGTERM received: finish the current lecture by then, or release it
    exit_code: int | None = None
    ended_at: float | None = None
    interrupted: int = 0  # alignments released unfinished
    received_after: list[float] | None = None  # receive times, kept to count stale templates

    def bind(self, node: Node, now: float, pod_start: float) -> None:
        node.worker, node.free_since = self, None
        self.node = node
        self.ready_at = max(now, node.ready_at) + pod_start
        self.idle_since = self.ready_at

    @property
    def running(self) -> bool:
        """A pod in phase Running (KEDA's `isAnyPodRunningOrCompleted`): on a Ready node."""
        return self.node is not None and self.exit_code is None

    def stop(self, now: float, grace: float) -> None:
        if self.exit_code is None and self.stop_at is None:
            self.stop_at = now + grace

    def kill(self, now: float, queue: Queue, timing: Timing) -> None:
        """The instance is gone at once: its message comes back after the visibility timeout."""
        if self.message is not None:
            queue.release(self.message, now + timing.visibility_timeout)
            self.message, self.interrupted = None, self.interrupted + 1
        self._exit(now, 137)

    def step(self, now: float, queue: Queue, timing: Timing) -> None:
        if self.exit_code is not None or self.ready_at is None or now < self.ready_at:
            if self.exit_code is None and self.ready_at is None and self.stop_at is not None:
                self._exit(now, 143)  # deleted before it was scheduled
            return
        if self.message is not None:
            if now >= self.busy_until:
                self._finish(now, queue, timing)
                if self.exit_code is not None:
                    return
            elif self.stop_at is not None and now >= self.stop_at:
                queue.release(self.message, now)  # SHUTDOWN_GRACE_SECONDS ran out: visibility 0
                self.message, self.interrupted = None, self.interrupted + 1
                self._exit(now, 143)
                return
            else:
                return
        if self.stop_at is not None:
            self._exit(now, 1 if self.failed else 0)
            return
        if self.max_messages and self.handled >= self.max_messages:
            self._exit(now, 1 if self.failed else 0)
            return
        if self.idle_timeout and now - self.idle_since >= self.idle_timeout:
            self._exit(now, 1 if self.failed else 0)
            return
        message = queue.receive(now)
        if message is None:
            return
        self.message = message
        if self.received_after is not None:
            self.received_after.append(now)
        kind = message.lecture.kind
        took = {"ok": message.lecture.work, "bad": BAD_INPUT_SECONDS, "crash": timing.crash_after}[kind]
        self.busy_until = now + took

    def _finish(self, now: float, queue: Queue, timing: Timing) -> None:
        message, self.message = self.message, None
        assert message is not None
        self.handled += 1
        self.idle_since = now
        kind = message.lecture.kind
        if kind == "ok":
            queue.finish(message, State.DONE, now)
        elif kind == "bad":  # the worker moves it to the dead-letter queue with its error
            queue.finish(message, State.DEAD, now)
            self.failed = True
        else:  # out of memory: the pod dies holding the message
            queue.release(message, now + timing.visibility_timeout)
            self._exit(now, 137)

    def _exit(self, now: float, code: int) -> None:
        self.exit_code, self.ended_at = code, now
        if self.node is not None and self.node.worker is self:
            self.node.worker, self.node.free_since = None, now

"""The SQS work queue as the model sees it: visibility, receive counts, the redrive policy, the DLQ."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from bench.scaling.keda import Counts

Kind = Literal["ok", "crash", "bad"]


@dataclass(frozen=True)
class Lecture:
    """One message: when it is sent, and what aligning it takes on a GPU.

    `crash`: the pod dies while aligning it (out of memory), so the message comes back after the
    visibility timeout until SQS's redrive policy moves it to the dead-letter queue. `bad`: the worker
    finds the input unusable, moves the message to the dead-letter queue itself and fails its Job.
    """

    arrival: float
    work: float
    kind: Kind = "ok"


class State(Enum):
    WAITING = "waiting"  # in the queue; visible once `visible_at` has passed
    HELD = "held"  # received by a worker that is working on it
    DONE = "done"  # deleted after its outputs were written
    DEAD = "dead"  # in the dead-letter queue


@dataclass
class Message:
    id: int
    lecture: Lecture
    visible_at: float
    state: State = State.WAITING
    receives: int = 0
    finished_at: float | None = None


@dataclass
class Queue:
    lectures: list[Lecture]
    visibility_timeout: float = 120.0
    max_receive_count: int = 3
    messages: list[Message] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.messages = [Message(i, lecture, lecture.arrival) for i, lecture in enumerate(self.lectures)]

    def counts(self, now: float) -> Counts:
        """ApproximateNumberOfMessages (visible) and …NotVisible (received or hidden), exact here."""
        visible = in_flight = 0
        for m in self.messages:
            if m.lecture.arrival > now:
                continue
            if m.state is State.HELD or (m.state is State.WAITING and m.visible_at > now):
                in_flight += 1
            elif m.state is State.WAITING:
                visible += 1
        return Counts(visible=visible, in_flight=in_flight)

    def receive(self, now: float) -> Message | None:
        """The oldest visible message, received; one past maxReceiveCount goes to the DLQ instead."""
        for m in self.messages:
            if m.state is State.WAITING and m.lecture.arrival <= now and m.visible_at <= now:
                if m.receives >= self.max_receive_count:  # SQS's redrive policy acts on the next receive
                    self.finish(m, State.DEAD, now)
                    continue
                m.receives += 1
                m.state = State.HELD
                return m
        return None

    def finish(self, message: Message, state: State, now: float) -> None:
        message.state, message.finished_at = state, now

    def release(self, message: Message, visible_at: float) -> None:
        """Back to the queue: at once (SIGTERM) or when the visibility timeout ends (a crash)."""
        message.state, message.visible_at = State.WAITING, visible_at

    def settled(self) -> bool:
        return all(m.state in (State.DONE, State.DEAD) for m in self.messages)

"""KEDA 2.20.2's ScaledJob decision for one `aws-sqs-queue` trigger, transcribed from its source.

Each function names the Go function it follows (kedacore/keda at tag v2.20.2):
- pkg/scalers/aws_sqs_queue_scaler.go: `processQueueLengthFromSqsQueueAttributesOutput` (the sum of the
  counted attributes) and `GetMetricsAndActivity` (active when the sum is above activationQueueLength);
- pkg/scaling/scaledjob/metrics.go: `CalculateQueueLengthAndMaxValue` and `IsScaledJobActive`
  (scaleTo = ⌈messages⌉, maxScale = ⌈min(messages / queueLength, maxReplicaCount)⌉);
- pkg/scaling/executor/scale_jobs.go: `getScalingDecision`, the strategies' `GetEffectiveMaxScale`,
  and `createJobs` (min(scaleTo, effectiveMaxScale) new Jobs, none when that is ≤ 0).
"running" Jobs are KEDA's `getRunningJobCount`: every Job without a Complete or Failed condition, a Job
whose pod still waits for a node included; "pending" ones are those with no pod Running or Succeeded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Strategy = Literal["default", "accurate", "eager"]


@dataclass(frozen=True)
class Trigger:
    """The aws-sqs-queue trigger's metadata that the decision reads."""

    queue_length: int = 5  # KEDA's default target
    activation_queue_length: int = 0
    scale_on_in_flight: bool = True
    scale_on_delayed: bool = False


@dataclass(frozen=True)
class Counts:
    """GetQueueAttributes: ApproximateNumberOfMessages, …NotVisible, …Delayed."""

    visible: int
    in_flight: int = 0
    delayed: int = 0


def queue_length(counts: Counts, trigger: Trigger) -> int:
    """processQueueLengthFromSqsQueueAttributesOutput: the sum of the attributes the trigger counts."""
    total = counts.visible
    if trigger.scale_on_in_flight:
        total += counts.in_flight
    if trigger.scale_on_delayed:
        total += counts.delayed
    return total


def is_active(length: int, trigger: Trigger, min_replicas: int = 0) -> bool:
    """GetMetricsAndActivity (`queuelen > activationQueueLength`), or minReplicaCount > 0."""
    return length > trigger.activation_queue_length or min_replicas > 0


def scale_to_and_max_scale(length: int, trigger: Trigger, max_replicas: int) -> tuple[int, int]:
    """CalculateQueueLengthAndMaxValue + IsScaledJobActive for one trigger: (scaleTo, maxScale)."""
    max_value = min(length / trigger.queue_length, max_replicas)
    return math.ceil(length), math.ceil(min(max_value, max_replicas))


def effective_max_scale(
    strategy: Strategy, max_scale: int, running: int, pending: int, max_replicas: int, scale_to: int
) -> tuple[int, int]:
    """The strategies' GetEffectiveMaxScale: (effectiveMaxScale, scaleTo)."""
    if strategy == "accurate":
        if max_scale + running - pending > max_replicas:
            return max_replicas - running, scale_to
        return max_scale - pending, scale_to
    if strategy == "eager":
        return min(max_replicas - running - pending, max_scale), max_replicas
    return max_scale - running, scale_to


def scaling_decision(
    strategy: Strategy,
    *,
    min_replicas: int,
    max_replicas: int,
    running: int,
    pending: int,
    scale_to: int,
    max_scale: int,
) -> tuple[int, int]:
    """getScalingDecision: top up to minReplicaCount first, else the strategy (running less the minimum)."""
    if running < min_replicas:
        return min_replicas - running, min_replicas - running
    effective, scale_to = effective_max_scale(
        strategy, max_scale, running - min_replicas, pending, max_replicas, scale_to
    )
    return max(effective, 0), scale_to


def jobs_to_create(effective: int, scale_to: int) -> int:
    """createJobs: nothing when effectiveMaxScale ≤ 0, else min(scaleTo, effectiveMaxScale)."""
    if effective <= 0:
        return 0
    return min(scale_to, effective)


@dataclass(frozen=True)
class ScaledJobPolicy:
    """What one polling cycle decides with: the ScaledJob's spec and its trigger."""

    trigger: Trigger
    strategy: Strategy = "default"
    min_replicas: int = 0
    max_replicas: int = 100

    def new_jobs(self, counts: Counts, running: int, pending: int) -> int:
        """Jobs KEDA creates in one polling cycle (RequestJobScale; only while a trigger is active)."""
        length = queue_length(counts, self.trigger)
        if not is_active(length, self.trigger, self.min_replicas):
            return 0
        scale_to, max_scale = scale_to_and_max_scale(length, self.trigger, self.max_replicas)
        effective, scale_to = scaling_decision(
            self.strategy,
            min_replicas=self.min_replicas,
            max_replicas=self.max_replicas,
            running=running,
            pending=pending,
            scale_to=scale_to,
            max_scale=max_scale,
        )
        return jobs_to_create(effective, scale_to)

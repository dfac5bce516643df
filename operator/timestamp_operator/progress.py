"""From the run's Job (and its failed pods) to the run's status: phase, counts, reasons, conditions.

Pure: the caller fetches the Job, the failed pods and the items; this computes the status fields
the Job owns. Everything is recomputed from the Job each time (no counters are kept), so a missed
or repeated Job event cannot make the counts drift.

Per item: index I succeeded when I is in the Job's `completedIndexes`, failed when in
`failedIndexes` (a permanent worker failure, exit 1, fails it at once; others after
`backoffLimitPerIndex` retries). When the Job itself fails (a configuration error, exit 2, or a
deadline), the items it never finished count as failed with the Job's reason.
"""

from __future__ import annotations

import json
from typing import Any

from timestamp_operator.builders import INDEX_KEY, JOB_NAME_LABEL, WORKER_CONTAINER
from timestamp_operator.spec import CamelModel, Condition, FailedItem, Item, Phase

MAX_REASON = 512


class Progress(CamelModel):
    """The status fields written from the Job (`status_patch()` is the merge patch)."""

    phase: Phase
    message: str
    total: int
    succeeded: int
    failed: int
    running: int
    progress: str  # "done/total" for `kubectl get`
    failed_items: list[FailedItem]
    failed_items_truncated: bool
    conditions: list[Condition]
    completion_time: str | None

    def status_patch(self) -> dict[str, Any]:
        """Top-level None stays in (a merge patch removes such a field); a failed item omits unknowns."""
        patch = self.model_dump(mode="json", by_alias=True)
        patch["failedItems"] = [
            item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in self.failed_items
        ]
        return patch


def parse_indexes(text: str | None) -> set[int]:
    """A Job's index list, e.g. "0,2-4,7" -> {0, 2, 3, 4, 7}."""
    indexes: set[int] = set()
    for part in (text or "").split(","):
        if not part.strip():
            continue
        first, _, last = part.partition("-")
        indexes.update(range(int(first), int(last or first) + 1))
    return indexes


def _job_condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in job.get("status", {}).get("conditions") or ():
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _terminated(pod: dict[str, Any]) -> dict[str, Any]:
    for status in pod.get("status", {}).get("containerStatuses") or ():
        if status.get("name") == WORKER_CONTAINER:
            state = status.get("state", {}).get("terminated") or status.get("lastState", {}).get("terminated")
            return dict(state or {})
    return {}


def pod_failure(pod: dict[str, Any]) -> tuple[str, int | None]:
    """Why a pod failed: the worker's outcome `error`, else the raw message, container or pod reason."""
    terminated = _terminated(pod)
    exit_code = terminated.get("exitCode")
    message = (terminated.get("message") or "").strip()
    if message:
        try:
            outcome = json.loads(message)
        except ValueError:
            outcome = None  # not JSON: logs (FallbackToLogsOnError) or a truncated outcome
        if isinstance(outcome, dict) and outcome.get("error"):
            return _clip(str(outcome["error"])), exit_code
        return _clip(message), exit_code
    status = pod.get("status", {})
    for reason, detail in ((terminated.get("reason"), None), (status.get("reason"), status.get("message"))):
        if reason and reason != "Error":
            return _clip(f"{reason}: {detail}" if detail else str(reason)), exit_code
    if exit_code is not None:
        return f"worker exited with code {exit_code}", exit_code
    return "pod failed without a reason", None


def _pod_index(pod: dict[str, Any]) -> int | None:
    meta = pod.get("metadata", {})
    value = (meta.get("labels") or {}).get(INDEX_KEY) or (meta.get("annotations") or {}).get(INDEX_KEY)
    return int(value) if value is not None and str(value).isdigit() else None


def failures_by_index(pods: list[dict[str, Any]], job_name: str) -> dict[int, tuple[str, int | None]]:
    """The latest failed pod's reason per completion index (pods of other Jobs are ignored)."""
    latest: dict[int, tuple[str, dict[str, Any]]] = {}
    for pod in pods:
        labels = pod.get("metadata", {}).get("labels") or {}
        index = _pod_index(pod)
        if (
            labels.get(JOB_NAME_LABEL) != job_name
            or pod.get("status", {}).get("phase") != "Failed"
            or index is None
        ):
            continue
        finished = (
            _terminated(pod).get("finishedAt") or pod.get("metadata", {}).get("creationTimestamp") or ""
        )
        if index not in latest or finished >= latest[index][0]:
            latest[index] = (finished, pod)
    return {index: pod_failure(pod) for index, (_, pod) in latest.items()}


def failed_items_of(job: dict[str, Any]) -> set[int]:
    """The failed items: the Job's `failedIndexes`, and once the Job itself failed, every unfinished one."""
    failed = parse_indexes(job.get("status", {}).get("failedIndexes"))
    if _job_condition(job, "Failed"):
        total = int(job.get("spec", {}).get("completions") or 0)
        failed |= set(range(total)) - parse_indexes(job.get("status", {}).get("completedIndexes"))
    return failed


def reported_failures(job: dict[str, Any], limit: int) -> list[int]:
    """The failed items the status lists with reasons (the first `limit`): only their pods are read."""
    return sorted(failed_items_of(job))[:limit]


def merge_conditions(old: list[dict[str, Any]], new: list[Condition], now: str) -> list[Condition]:
    """Keep each condition's lastTransitionTime while its status does not change."""
    previous = {c.get("type"): c for c in old or ()}
    merged = []
    for condition in new:
        before = previous.get(condition.type)
        since = (
            before.get("lastTransitionTime") if before and before.get("status") == condition.status else None
        )
        merged.append(condition.model_copy(update={"last_transition_time": since or now}))
    return merged


def _phase(total: int, succeeded: int, failed: int, running: int, finished: bool, suspended: bool) -> Phase:
    if finished:
        if succeeded == total:
            return Phase.SUCCEEDED
        return Phase.FAILED if succeeded == 0 else Phase.PARTIALLY_FAILED
    if suspended and running == 0:
        return Phase.SUSPENDED
    return Phase.RUNNING if running or succeeded or failed else Phase.PENDING


def summarize(
    job: dict[str, Any],
    *,
    items: list[Item],
    pods: list[dict[str, Any]],
    old_conditions: list[dict[str, Any]],
    generation: int | None,
    now: str,
    max_failed_items: int,
) -> Progress:
    """The run's Job-derived status. `items` and `pods` only name and explain failed items."""
    spec, status = job.get("spec", {}), job.get("status", {})
    job_name = job.get("metadata", {}).get("name", "")
    total = int(spec.get("completions") or 0)
    succeeded_indexes = parse_indexes(status.get("completedIndexes"))
    failed_indexes = failed_items_of(job)
    complete, job_failed = _job_condition(job, "Complete"), _job_condition(job, "Failed")
    finished = bool(complete or job_failed)

    reasons = failures_by_index(pods, job_name)
    job_reason = ""
    if job_failed:
        why = f"({job_failed.get('reason')}): {job_failed.get('message', '')}"
        job_reason = _clip(f"not finished: the Job failed {why}")
    running = 0 if finished else int(status.get("active") or 0)
    succeeded, failed = len(succeeded_indexes), len(failed_indexes)
    phase = _phase(total, succeeded, failed, running, finished, bool(spec.get("suspend")))

    failed_items = []
    for index in sorted(failed_indexes)[:max_failed_items]:
        reason, exit_code = reasons.get(index) or (job_reason or "failed (no pod left to tell why)", None)
        item = items[index] if index < len(items) else None
        failed_items.append(
            FailedItem(
                index=index,
                audio_key=item.audio_key if item else None,
                text_key=item.text_key if item else None,
                reason=reason,
                exit_code=exit_code,
            )
        )

    message = _message(phase, total, succeeded, failed, running, failed_items)
    conditions = [
        Condition(
            type="Accepted",
            status="True",
            reason="JobCreated",
            message=f"{total} items in Job {job_name}",
            last_transition_time=now,
            observed_generation=generation,
        ),
        Condition(
            type="Suspended",
            status="True" if phase is Phase.SUSPENDED else "False",
            reason=phase.value,
            last_transition_time=now,
            observed_generation=generation,
        ),
        Condition(
            type="Complete",
            status="True" if phase.terminal else "False",
            reason=phase.value,
            message=message,
            last_transition_time=now,
            observed_generation=generation,
        ),
    ]
    completion_time = None
    if finished:
        completion_time = status.get("completionTime") or (job_failed or {}).get("lastTransitionTime") or now
    return Progress(
        phase=phase,
        message=message,
        total=total,
        succeeded=succeeded,
        failed=failed,
        running=running,
        progress=f"{succeeded + failed}/{total}",
        failed_items=failed_items,
        failed_items_truncated=len(failed_indexes) > len(failed_items),
        conditions=merge_conditions(old_conditions, conditions, now),
        completion_time=completion_time,
    )


def _message(
    phase: Phase, total: int, succeeded: int, failed: int, running: int, failed_items: list[FailedItem]
) -> str:
    first = f"; first failure: item {failed_items[0].index}: {failed_items[0].reason}" if failed_items else ""
    match phase:
        case Phase.PENDING:
            return f"{total} items; waiting for the first pod"
        case Phase.SUSPENDED:
            return f"suspended; {succeeded} of {total} items aligned, {failed} failed"
        case Phase.RUNNING:
            return f"{succeeded} of {total} items aligned, {failed} failed, {running} running{first}"
        case Phase.SUCCEEDED:
            return f"all {total} items aligned"
        case _:
            return f"{failed} of {total} items failed, {succeeded} aligned{first}"


def rejection(reason: str, message: str, now: str, generation: int | None) -> dict[str, Any]:
    """The status of a run that will never start (invalid spec, empty selection, a lost Job)."""
    conditions = [
        Condition(
            type="Accepted",
            status="False",
            reason=reason,
            message=message,
            last_transition_time=now,
            observed_generation=generation,
        ),
        Condition(
            type="Complete",
            status="True",
            reason=Phase.FAILED.value,
            message=message,
            last_transition_time=now,
            observed_generation=generation,
        ),
    ]
    return {
        "phase": Phase.FAILED.value,
        "message": message,
        "conditions": [c.model_dump(mode="json", by_alias=True) for c in conditions],
        "completionTime": now,
    }


def milestone(old_phase: str | None, new: Progress) -> tuple[str, str] | None:
    """The Kubernetes event (type, reason) a phase change deserves, if any."""
    if old_phase == new.phase.value:
        return None
    match new.phase:
        case Phase.RUNNING:
            return ("Normal", "Resumed" if old_phase == Phase.SUSPENDED.value else "Started")
        case Phase.SUSPENDED:
            return ("Normal", "Suspended")
        case Phase.SUCCEEDED:
            return ("Normal", "Succeeded")
        case Phase.PARTIALLY_FAILED | Phase.FAILED:
            return ("Warning", new.phase.value)
        case _:
            return None

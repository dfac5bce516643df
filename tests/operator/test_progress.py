"""From a Job and its failed pods to a run's status: phases, counts, reasons, conditions, events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from timestamp_operator import progress
from timestamp_operator.spec import Item, Phase

from tests.operator.k8s_schemas import crd_problems

NOW = "2025-01-02T03:04:05Z"
ITEMS = [Item(audio_key=f"b/{n}.mp3", text_key=f"b/{n}.txt") for n in range(4)]


def job(status: dict[str, Any] | None = None, completions: int = 4, suspend: bool = False) -> dict[str, Any]:
    return {
        "metadata": {"name": "run-align"},
        "spec": {"completions": completions, "suspend": suspend},
        "status": status or {},
    }


def failed(reason: str, message: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "Failed",
            "status": "True",
            "reason": reason,
            "message": message,
            "lastTransitionTime": "2025-01-01T10:00:00Z",
        }
    ]


def pod(
    index: int,
    message: str = "",
    exit_code: int | None = 1,
    finished: str = "2025-01-01T09:00:00Z",
    job_name: str = "run-align",
    **status: Any,
) -> dict[str, Any]:
    terminated = {"exitCode": exit_code, "reason": "Error", "message": message, "finishedAt": finished}
    return {
        "metadata": {
            "labels": {
                "batch.kubernetes.io/job-name": job_name,
                "batch.kubernetes.io/job-completion-index": str(index),
            }
        },
        "status": {
            "phase": "Failed",
            "containerStatuses": [{"name": "worker", "state": {"terminated": terminated}}],
            **status,
        },
    }


def summarize(
    the_job: dict[str, Any], pods: list[dict[str, Any]] = (), old: list[dict[str, Any]] = (), limit: int = 50
) -> progress.Progress:
    return progress.summarize(
        the_job,
        items=ITEMS,
        pods=list(pods),
        old_conditions=list(old),
        generation=3,
        now=NOW,
        max_failed_items=limit,
    )


@pytest.mark.parametrize(
    ("text", "indexes"),
    [(None, set()), ("", set()), ("3", {3}), ("0,2-4,7", {0, 2, 3, 4, 7}), ("1-1", {1})],
)
def test_index_lists(text: str | None, indexes: set[int]) -> None:
    assert progress.parse_indexes(text) == indexes


@pytest.mark.parametrize(
    ("the_job", "expected"),
    [
        (job(), Phase.PENDING),
        (job({"active": 1}), Phase.RUNNING),
        (job({"completedIndexes": "0"}), Phase.RUNNING),
        (job(suspend=True), Phase.SUSPENDED),
        (job({"active": 1}, suspend=True), Phase.RUNNING),  # still stopping its pods
        (
            job({"completedIndexes": "0-3", "conditions": [{"type": "Complete", "status": "True"}]}),
            Phase.SUCCEEDED,
        ),
        (
            job({"completedIndexes": "0-2", "failedIndexes": "3", "conditions": failed("FailedIndexes", "")}),
            Phase.PARTIALLY_FAILED,
        ),
        (job({"failedIndexes": "0-3", "conditions": failed("FailedIndexes", "")}), Phase.FAILED),
        (
            job({"completedIndexes": "0-3", "conditions": [{"type": "Complete", "status": "False"}]}),
            Phase.RUNNING,
        ),
    ],
)
def test_phases(the_job: dict[str, Any], expected: Phase) -> None:
    assert summarize(the_job).phase is expected


def test_counts_and_progress() -> None:
    summary = summarize(
        job({"active": 2, "completedIndexes": "0", "failedIndexes": "3"}), [pod(3, "bad text")]
    )
    assert (summary.total, summary.succeeded, summary.failed, summary.running) == (4, 1, 1, 2)
    assert summary.progress == "2/4"
    assert summary.message == "1 of 4 items aligned, 1 failed, 2 running; first failure: item 3: bad text"
    assert summary.completion_time is None


def test_a_failed_item_is_named_and_explained_by_the_workers_outcome() -> None:
    outcome = json.dumps(
        {
            "status": "failed",
            "audio_key": "b/1.mp3",
            "text_key": "b/1.txt",
            "error": "transcript b/1.txt is empty",
            "error_kind": "permanent",
        }
    )
    summary = summarize(
        job({"failedIndexes": "1", "completedIndexes": "0,2-3", "conditions": failed("x", "")}),
        [pod(1, outcome)],
    )
    (item,) = summary.failed_items
    assert item.model_dump(by_alias=True) == {
        "index": 1,
        "audioKey": "b/1.mp3",
        "textKey": "b/1.txt",
        "reason": "transcript b/1.txt is empty",
        "exitCode": 1,
    }
    assert summary.completion_time == "2025-01-01T10:00:00Z"


@pytest.mark.parametrize(
    ("the_pod", "reason", "exit_code"),
    [
        (
            pod(0, "Traceback (most recent call last):\n  ...\nMemoryError"),
            "Traceback (most recent call last): ... MemoryError",
            1,
        ),
        (
            pod(0, '{"status": "failed", "error": "x"'),
            '{"status": "failed", "error": "x"',
            1,
        ),  # truncated JSON
        (
            pod(0, "", 137)
            | {
                "status": {
                    "phase": "Failed",
                    "containerStatuses": [
                        {"name": "worker", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}
                    ],
                }
            },
            "OOMKilled",
            137,
        ),
        (
            pod(0, "", None)
            | {
                "status": {
                    "phase": "Failed",
                    "reason": "Evicted",
                    "message": "The node was low on resource: memory.",
                }
            },
            "Evicted: The node was low on resource: memory.",
            None,
        ),
        (pod(0, "", 75), "worker exited with code 75", 75),
        (pod(0, "x" * 2000), "x" * 511 + "…", 1),
    ],
    ids=["logs", "truncated-json", "oom", "evicted", "exit-code", "long"],
)
def test_pod_failure_reasons(the_pod: dict[str, Any], reason: str, exit_code: int | None) -> None:
    assert progress.pod_failure(the_pod) == (reason, exit_code)


def test_the_latest_attempt_explains_an_index_and_other_jobs_pods_are_ignored() -> None:
    pods = [
        pod(2, "first attempt", 75, finished="2025-01-01T09:00:00Z"),
        pod(2, "last attempt", 1, finished="2025-01-01T09:30:00Z"),
        pod(2, "another job's", 1, finished="2025-01-01T10:00:00Z", job_name="other-align"),
        {**pod(2, "still running"), "status": {"phase": "Running"}},
    ]
    assert progress.failures_by_index(pods, "run-align") == {2: ("last attempt", 1)}


def test_items_the_failed_job_never_finished_count_as_failed() -> None:
    the_job = job(
        {
            "completedIndexes": "0",
            "failedIndexes": "1",
            "conditions": failed("PodFailurePolicy", "exit code 2 matching FailJob rule"),
        }
    )
    summary = summarize(the_job, [pod(1, "WHISPER_MODEL: not in cache", 2)])
    assert (summary.phase, summary.succeeded, summary.failed, summary.progress) == (
        Phase.PARTIALLY_FAILED,
        1,
        3,
        "4/4",
    )
    assert [i.index for i in summary.failed_items] == [1, 2, 3]
    assert summary.failed_items[0].reason == "WHISPER_MODEL: not in cache"
    assert summary.failed_items[1].reason.startswith("not finished: the Job failed (PodFailurePolicy)")


def test_the_failed_list_is_capped_but_the_counts_are_not() -> None:
    summary = summarize(job({"failedIndexes": "0-3", "conditions": failed("FailedIndexes", "")}), limit=2)
    assert summary.failed == 4 and len(summary.failed_items) == 2 and summary.failed_items_truncated
    assert summary.failed_items[0].reason == "not finished: the Job failed (FailedIndexes):"


def test_conditions_keep_their_transition_time_while_unchanged() -> None:
    first = summarize(job({"active": 1})).model_dump(mode="json", by_alias=True)["conditions"]
    old = [{**c, "lastTransitionTime": "2025-01-01T00:00:00Z"} for c in first]
    later = {c.type: c for c in summarize(job({"active": 1, "completedIndexes": "0"}), old=old).conditions}
    assert later["Complete"].last_transition_time == "2025-01-01T00:00:00Z"  # still False
    done = {
        c.type: c
        for c in summarize(
            job({"completedIndexes": "0-3", "conditions": [{"type": "Complete", "status": "True"}]}), old=old
        ).conditions
    }
    assert (done["Complete"].status, done["Complete"].reason, done["Complete"].last_transition_time) == (
        "True",
        "Succeeded",
        NOW,
    )
    assert done["Accepted"].observed_generation == 3


@pytest.mark.parametrize(
    ("old", "new", "event"),
    [
        (None, Phase.PENDING, None),
        ("Pending", Phase.RUNNING, ("Normal", "Started")),
        ("Suspended", Phase.RUNNING, ("Normal", "Resumed")),
        ("Running", Phase.SUSPENDED, ("Normal", "Suspended")),
        ("Running", Phase.SUCCEEDED, ("Normal", "Succeeded")),
        ("Running", Phase.PARTIALLY_FAILED, ("Warning", "PartiallyFailed")),
        ("Running", Phase.FAILED, ("Warning", "Failed")),
        ("Running", Phase.RUNNING, None),
    ],
)
def test_milestones(old: str | None, new: Phase, event: tuple[str, str] | None) -> None:
    summary = summarize(job()).model_copy(update={"phase": new})
    assert progress.milestone(old, summary) == event


def run_with(status: dict[str, Any]) -> dict[str, Any]:
    spec = {"items": [{"audioKey": i.audio_key, "textKey": i.text_key} for i in ITEMS]}
    # A merge patch's nulls remove fields: what is stored has none.
    stored = {k: v for k, v in status.items() if v is not None}
    return {
        "apiVersion": "timestamp.dafyomi.io/v1alpha1",
        "kind": "AlignmentRun",
        "metadata": {"name": "r"},
        "spec": spec,
        "status": stored,
    }


@pytest.mark.parametrize(
    "the_job",
    [
        job(),
        job({"active": 2}),
        job(suspend=True),
        job({"completedIndexes": "0", "failedIndexes": "1-3", "conditions": failed("FailedIndexes", "m")}),
    ],
)
def test_every_status_fits_the_crd(the_job: dict[str, Any]) -> None:
    patch = summarize(the_job, [pod(1, "bad"), pod(2, "", None)]).status_patch()
    assert crd_problems(run_with(patch)) == []


def test_a_rejection_fits_the_crd() -> None:
    status = progress.rejection("InvalidSpec", "spec.items: too short", NOW, 1)
    assert status["phase"] == "Failed" and status["message"] == "spec.items: too short"
    assert crd_problems(run_with(status)) == []

"""The real operator (`kopf run -m timestamp_operator.handlers`) against KMock; S3 on moto's server.

Each test plays the cluster's other parts itself: it applies runs as kubectl would, moves the Job
along as the Job controller would (status patches, failed pods with termination messages), and
deletes owned objects as the garbage collector would.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import aiohttp
import pytest

from tests.operator.conftest import CONFIGMAPS, JOBS, Cluster, eventually, operator
from tests.operator.k8s_schemas import crd_problems, k8s_problems

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

ITEMS = [
    {"audioKey": "berakhot/2.mp3", "textKey": "berakhot/2.txt"},
    {"audioKey": "berakhot/3.mp3", "textKey": "berakhot/3.txt"},
]


def run_manifest(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "timestamp.dafyomi.io/v1alpha1",
        "kind": "AlignmentRun",
        "metadata": {"name": name},
        "spec": spec or {"items": ITEMS},
    }


def outcome(text_key: str, error: str) -> str:
    """A termination message as the worker's batch mode writes it."""
    return json.dumps(
        {
            "status": "failed",
            "audio_key": text_key.replace(".txt", ".mp3"),
            "text_key": text_key,
            "error": error,
            "error_kind": "permanent",
        }
    )


def phase(cluster: Cluster, name: str) -> str | None:
    return cluster.status(name).get("phase")


async def test_a_run_goes_from_job_to_partial_failure(cluster: Cluster) -> None:
    async with operator(cluster):
        await cluster.apply(
            run_manifest(
                "reported",
                items=ITEMS,
                parallelism=4,
                overrides={"model": "large-v3", "resources": {"limits": {"memory": "24Gi"}}},
            )
        )

        job = await eventually(lambda: cluster.get(JOBS, "reported-align"), what="the Job")
        assert k8s_problems(job, "job-batch-v1.json") == []
        uid = cluster.uids["reported"]
        owner = {
            "apiVersion": "timestamp.dafyomi.io/v1alpha1",
            "kind": "AlignmentRun",
            "name": "reported",
            "uid": uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
        assert job["metadata"]["ownerReferences"] == [owner]
        assert job["spec"]["completionMode"] == "Indexed"
        assert job["spec"]["completions"] == 2
        assert job["spec"]["parallelism"] == 2  # never more pods than items
        worker = job["spec"]["template"]["spec"]["containers"][0]
        assert worker["command"][:2] == ["timestamp", "batch"]
        assert {"name": "WHISPER_MODEL", "value": "large-v3"} in worker["env"]
        assert {"name": "WHISPER_MODEL", "value": "base"} not in worker["env"]
        assert worker["resources"]["limits"] == {"nvidia.com/gpu": 1, "memory": "24Gi"}

        configmap = cluster.get(CONFIGMAPS, "reported-items")
        assert configmap is not None and configmap["metadata"]["ownerReferences"] == [owner]
        assert k8s_problems(configmap, "configmap-v1.json") == []
        assert json.loads(configmap["data"]["items.json"])["items"][1] == {
            "audio_key": "berakhot/3.mp3",
            "text_key": "berakhot/3.txt",
        }

        await eventually(lambda: phase(cluster, "reported") == "Pending", what="Pending")
        status = cluster.status("reported")
        assert (status["total"], status["progress"], status["jobName"]) == (2, "0/2", "reported-align")
        assert status["observedGeneration"] == 1 and status["startTime"]
        await eventually(lambda: cluster.events("JobCreated"), what="a JobCreated event")

        await cluster.job_status("reported-align", {"active": 2, "ready": 2})
        await eventually(lambda: phase(cluster, "reported") == "Running", what="Running")
        assert cluster.status("reported")["running"] == 2
        await eventually(lambda: cluster.events("Started"), what="a Started event")

        await cluster.failed_pod(
            "reported-align", 1, outcome("berakhot/3.txt", "audio berakhot/3.mp3 is missing")
        )
        await cluster.job_status(
            "reported-align",
            {
                "active": 0,
                "ready": 0,
                "succeeded": 1,
                "failed": 1,
                "completedIndexes": "0",
                "failedIndexes": "1",
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "FailedIndexes",
                        "message": "Job has failed indexes",
                        "lastTransitionTime": "2025-01-01T00:11:00Z",
                    }
                ],
            },
        )
        await eventually(lambda: phase(cluster, "reported") == "PartiallyFailed", what="PartiallyFailed")
        partial = await eventually(lambda: cluster.events("PartiallyFailed"), what="a PartiallyFailed event")

    assert [e["type"] for e in partial] == ["Warning"]
    status = cluster.status("reported")
    assert (status["succeeded"], status["failed"], status["running"], status["progress"]) == (1, 1, 0, "2/2")
    assert status["failedItems"] == [
        {
            "index": 1,
            "audioKey": "berakhot/3.mp3",
            "textKey": "berakhot/3.txt",
            "reason": "audio berakhot/3.mp3 is missing",
            "exitCode": 1,
        }
    ]
    assert status["completionTime"] == "2025-01-01T00:11:00Z"
    complete = next(c for c in status["conditions"] if c["type"] == "Complete")
    assert (complete["status"], complete["reason"]) == ("True", "PartiallyFailed")
    assert "audio berakhot/3.mp3 is missing" in status["message"]
    assert crd_problems(cluster.run("reported")) == []  # the status fits the CRD's schema


async def test_all_items_aligned(cluster: Cluster) -> None:
    async with operator(cluster):
        await cluster.apply(run_manifest("masechet"))
        await eventually(lambda: cluster.get(JOBS, "masechet-align"), what="the Job")
        await cluster.job_status(
            "masechet-align",
            {
                "succeeded": 2,
                "completedIndexes": "0-1",
                "completionTime": "2025-01-01T01:00:00Z",
                "conditions": [{"type": "Complete", "status": "True"}],
            },
        )
        await eventually(lambda: phase(cluster, "masechet") == "Succeeded", what="Succeeded")
        await eventually(lambda: cluster.events("Succeeded"), what="a Succeeded event")
    status = cluster.status("masechet")
    assert (status["succeeded"], status["failed"], status["failedItems"]) == (2, 0, [])
    assert status["message"] == "all 2 items aligned"


async def test_a_configuration_error_fails_the_whole_run(cluster: Cluster) -> None:
    async with operator(cluster):
        await cluster.apply(run_manifest("misconfigured"))
        await eventually(lambda: cluster.get(JOBS, "misconfigured-align"), what="the Job")
        await cluster.failed_pod("misconfigured-align", 0, "WHISPER_MODEL: 'huge' is not in WHISPER_CACHE", 2)
        await cluster.job_status(
            "misconfigured-align",
            {
                "failed": 1,
                "failedIndexes": "0",
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "PodFailurePolicy",
                        "message": "Container worker for pod misconfigured-align-0-x failed with exit code 2",
                    }
                ],
            },
        )
        await eventually(lambda: phase(cluster, "misconfigured") == "Failed", what="Failed")
    items = cluster.status("misconfigured")["failedItems"]
    assert items[0]["reason"] == "WHISPER_MODEL: 'huge' is not in WHISPER_CACHE"
    assert items[1]["index"] == 1 and "PodFailurePolicy" in items[1]["reason"]  # never started


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"items": ITEMS, "selection": {"prefix": "berakhot/", "maxItems": 5}}, "exactly one of `items`"),
        ({"items": []}, "spec.items"),
        ({"items": [ITEMS[0], {**ITEMS[1], "textKey": ITEMS[0]["textKey"]}]}, "listed twice"),
        ({"items": ITEMS, "overrides": {"tokenStep": 0}}, "spec.overrides.tokenStep"),
        ({"items": ITEMS, "overrides": {"modle": "large-v3"}}, "spec.overrides.modle"),
        ({"selection": {"prefix": "berakhot/"}}, "spec.selection.maxItems"),
    ],
    ids=["both-sources", "no-items", "duplicate-text", "token-step", "unknown-field", "no-max"],
)
async def test_an_invalid_spec_fails_and_creates_nothing(
    cluster: Cluster, spec: dict[str, Any], named: str
) -> None:
    async with operator(cluster):
        await cluster.apply(run_manifest("bad", **spec))
        await eventually(lambda: phase(cluster, "bad") == "Failed", what="Failed")
        await eventually(lambda: cluster.events("InvalidSpec"), what="an InvalidSpec event")
    status = cluster.status("bad")
    assert named in status["message"]
    accepted = next(c for c in status["conditions"] if c["type"] == "Accepted")
    assert (accepted["status"], accepted["reason"]) == ("False", "InvalidSpec")
    assert cluster.creations(JOBS) == [] and cluster.creations(CONFIGMAPS) == []


async def test_a_run_outside_the_workers_namespace_is_refused(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_NAMESPACE", "alignment")
    async with operator(cluster):
        await cluster.apply(run_manifest("elsewhere"))
        await eventually(lambda: phase(cluster, "elsewhere") == "Failed", what="Failed")
        await eventually(lambda: cluster.events("WrongNamespace"), what="a WrongNamespace event")
    assert "namespace 'alignment'" in cluster.status("elsewhere")["message"]
    assert cluster.creations(JOBS) == [] and cluster.creations(CONFIGMAPS) == []


async def test_restarts_and_retries_never_duplicate_the_job(cluster: Cluster) -> None:
    async with operator(cluster):
        await cluster.apply(run_manifest("restarted"))
        await eventually(lambda: phase(cluster, "restarted") == "Pending", what="Pending")
    async with operator(cluster):  # resumes the run: finds its ConfigMap and Job, creates nothing
        await cluster.job_status("restarted-align", {"active": 1})
        await eventually(lambda: phase(cluster, "restarted") == "Running", what="Running after the restart")
        await cluster.apply(run_manifest("another"))  # handled after the resumed one
        await eventually(lambda: cluster.get(JOBS, "another-align"), what="a later run's Job")
        await eventually(lambda: len(cluster.events("JobCreated")) == 2, what="its JobCreated event")
    assert len(cluster.creations(JOBS)) == 2 and len(cluster.creations(CONFIGMAPS)) == 2
    assert len(cluster.events("JobCreated")) == 2  # none for the resumed run


async def test_a_launch_interrupted_after_creating_the_job_adopts_it(cluster: Cluster) -> None:
    """The operator died after creating the Job but before recording it: the retry must not add one."""
    run = await cluster.apply(run_manifest("interrupted"))
    owner = [
        {
            "apiVersion": run["apiVersion"],
            "kind": "AlignmentRun",
            "name": "interrupted",
            "uid": run["metadata"]["uid"],
            "controller": True,
        }
    ]
    items = json.dumps({"items": [{"audio_key": i["audioKey"], "text_key": i["textKey"]} for i in ITEMS]})
    await cluster.create(
        CONFIGMAPS,
        {"metadata": {"name": "interrupted-items", "ownerReferences": owner}, "data": {"items.json": items}},
    )
    await cluster.create(
        JOBS,
        {
            "metadata": {
                "name": "interrupted-align",
                "ownerReferences": owner,
                "labels": {"app.kubernetes.io/managed-by": "timestamp-operator"},
            },
            "spec": {"completions": 2, "parallelism": 1, "suspend": False},
        },
    )
    async with operator(cluster):
        await eventually(
            lambda: cluster.status("interrupted").get("jobName") == "interrupted-align", what="adopted"
        )
        await eventually(lambda: phase(cluster, "interrupted") == "Pending", what="Pending")
    assert len(cluster.creations(JOBS)) == 1 and len(cluster.creations(CONFIGMAPS)) == 1  # the test's own


async def test_a_leftover_of_an_earlier_run_is_never_adopted(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETRY_DELAY_SECONDS", "0.2")
    stranger = [
        {
            "apiVersion": "timestamp.dafyomi.io/v1alpha1",
            "kind": "AlignmentRun",
            "name": "again",
            "uid": "uid-of-the-deleted-run",
            "controller": True,
        }
    ]
    await cluster.create(JOBS, {"metadata": {"name": "again-align", "ownerReferences": stranger}, "spec": {}})
    async with operator(cluster):
        await cluster.apply(run_manifest("again"))
        await eventually(
            lambda: "earlier AlignmentRun" in cluster.status("again").get("message", ""), what="waits"
        )
        assert phase(cluster, "again") == "Pending"
        await cluster.delete(JOBS, "again-align")  # the garbage collector catches up
        await eventually(
            lambda: (
                cluster.get(JOBS, "again-align")
                and cluster.get(JOBS, "again-align")["metadata"]["ownerReferences"][0]["uid"]
                == cluster.uids["again"]
            ),
            what="its own Job",
        )


async def test_deleting_a_run_lets_the_garbage_collector_cancel_its_work(cluster: Cluster) -> None:
    async with operator(cluster):
        await cluster.apply(run_manifest("cancelled"))
        await eventually(lambda: cluster.get(JOBS, "cancelled-align"), what="the Job")
        await cluster.delete(
            "timestamp.dafyomi.io/v1alpha1/alignmentruns", "cancelled"
        )  # no finalizer holds it
        collected = await cluster.collect_garbage(cluster.uids["cancelled"])
        assert collected == ["configmaps/cancelled-items", "jobs/cancelled-align"]
        await cluster.apply(run_manifest("next"))  # processed after the deletions
        await eventually(lambda: cluster.get(JOBS, "next-align"), what="the next run's Job")
    assert cluster.get(JOBS, "cancelled-align") is None  # nothing brought back
    assert cluster.names(JOBS) == ["next-align"]


async def test_a_selection_is_resolved_from_s3_once(cluster: Cluster, s3_endpoint: Any) -> None:
    bucket = s3_endpoint.bucket
    for key in [
        "berakhot/2.txt",
        "berakhot/2.vtt",
        "berakhot/2.json",
        "berakhot/3.txt",
        "berakhot/4.txt",
        "shabbat/2.txt",
    ]:
        s3_endpoint.put_object(Bucket=bucket, Key=key, Body=b"text")
    async with operator(cluster):
        await cluster.apply(run_manifest("masechet", selection={"prefix": "berakhot/", "maxItems": 2}))
        job = await eventually(lambda: cluster.get(JOBS, "masechet-align"), what="the Job")
        await eventually(lambda: cluster.status("masechet").get("selection"), what="the recorded selection")
        resolved = await eventually(
            lambda: cluster.events("SelectionResolved"), what="a SelectionResolved event"
        )
        s3_endpoint.put_object(Bucket=bucket, Key="berakhot/1.txt", Body=b"late")  # changes nothing now
    assert job["spec"]["completions"] == 2
    configmap = cluster.get(CONFIGMAPS, "masechet-items")
    assert configmap is not None
    assert json.loads(configmap["data"]["items.json"])["items"] == [
        {"audio_key": "berakhot/2.mp3", "text_key": "berakhot/2.txt"},
        {"audio_key": "berakhot/3.mp3", "text_key": "berakhot/3.txt"},
    ]
    recorded = cluster.status("masechet")["selection"]
    assert recorded | {"resolvedAt": None} == {
        "bucket": bucket,
        "prefix": "berakhot/",
        "pattern": "*.txt",
        "matched": 2,
        "truncated": True,
        "resolvedAt": None,
    }
    assert [e["type"] for e in resolved] == ["Warning"]  # truncated: said loudly

    async with operator(cluster):  # a restart reads the recorded items back; S3 is not listed again
        await cluster.job_status("masechet-align", {"active": 1})
        await eventually(lambda: phase(cluster, "masechet") == "Running", what="Running")
    assert len(cluster.creations(CONFIGMAPS)) == 1 and cluster.status("masechet")["selection"] == recorded


async def test_an_empty_selection_fails(cluster: Cluster) -> None:
    async with operator(cluster):
        await cluster.apply(
            run_manifest("nothing", selection={"prefix": "no-such-masechet/", "maxItems": 10})
        )
        await eventually(lambda: phase(cluster, "nothing") == "Failed", what="Failed")
    assert "selection matched no key" in cluster.status("nothing")["message"]
    assert cluster.creations(JOBS) == []


async def test_suspend_and_parallelism_follow_edits_other_changes_are_reported(cluster: Cluster) -> None:
    async with operator(cluster):
        await cluster.apply(run_manifest("paused", items=ITEMS, suspend=True))
        job = await eventually(lambda: cluster.get(JOBS, "paused-align"), what="the Job")
        assert job["spec"]["suspend"] is True
        await eventually(lambda: phase(cluster, "paused") == "Suspended", what="Suspended")

        await cluster.edit_spec("paused", {"suspend": False, "parallelism": 5})
        await eventually(
            lambda: cluster.get(JOBS, "paused-align")["spec"]["suspend"] is False, what="resumed"
        )
        assert cluster.get(JOBS, "paused-align")["spec"]["parallelism"] == 2
        await eventually(lambda: phase(cluster, "paused") == "Pending", what="Pending again")
        await eventually(
            lambda: cluster.status("paused")["observedGeneration"] == 2, what="generation 2 seen"
        )

        await cluster.edit_spec("paused", {"overrides": {"model": "large-v3"}})
        ignored = await eventually(lambda: cluster.events("SpecChangeIgnored"), what="SpecChangeIgnored")
    assert "ignored changes to: overrides" in ignored[0]["message"]
    worker = cluster.get(JOBS, "paused-align")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "WHISPER_MODEL", "value": "base"} in worker["env"]  # the started Job keeps its model


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_liveness_endpoint_answers(cluster: Cluster) -> None:
    port = free_port()
    async with (
        operator(cluster, f"--liveness=http://127.0.0.1:{port}/healthz"),
        aiohttp.ClientSession() as session,
    ):

        async def healthz() -> dict[str, Any]:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
                return dict(await response.json())

        health = await eventually(healthz, what="/healthz")
    assert health["workerImage"] == "registry.example/gpu-timestamp:1.0.0"


async def test_a_job_deleted_by_hand_fails_the_run_and_is_not_recreated(cluster: Cluster) -> None:
    async with operator(cluster):
        await cluster.apply(run_manifest("orphaned"))
        await eventually(lambda: phase(cluster, "orphaned") == "Pending", what="Pending")
        await cluster.delete(JOBS, "orphaned-align")
        await eventually(lambda: phase(cluster, "orphaned") == "Failed", what="Failed")
        await eventually(lambda: cluster.events("JobLost"), what="a JobLost event")
    assert "orphaned-align was deleted" in cluster.status("orphaned")["message"]
    async with operator(cluster):  # resuming a failed run does nothing
        await cluster.apply(run_manifest("later"))
        await eventually(lambda: cluster.get(JOBS, "later-align"), what="a later run's Job")
    assert cluster.names(JOBS) == ["later-align"] and len(cluster.creations(JOBS)) == 2

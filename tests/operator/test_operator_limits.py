"""The operator's limits and self-repair on KMock: the GPU caps, waiting with backoff and one event,
the periodic re-sync, and a lost items ConfigMap (rebuilt only when identical)."""

from __future__ import annotations

import asyncio
from typing import Any

import kmock
import kopf
import pytest
from kopf.testing import KopfRunner
from timestamp_operator import handlers
from timestamp_operator.settings import OperatorSettings

from tests.operator.conftest import (
    CONFIGMAPS,
    JOBS,
    NAMESPACE,
    OPERATOR_COMMAND,
    RUNS,
    Cluster,
    eventually,
    operator,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

ITEMS = [{"audioKey": f"berakhot/{n}.mp3", "textKey": f"berakhot/{n}.txt"} for n in range(2, 5)]


def manifest(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "timestamp.dafyomi.io/v1alpha1",
        "kind": "AlignmentRun",
        "metadata": {"name": name},
        "spec": {"items": ITEMS, **spec},
    }


def job_lists(cluster: Cluster) -> int:
    """The operator's own listings of Jobs (each launch attempt counts the GPUs in use)."""
    wanted = kmock.resource(JOBS)
    return sum(
        1
        for r in list(cluster.mock)
        if r.resource == wanted
        and r.name is None
        and r.method == "GET"
        and r.params.get("watch") != "true"
        and "kopf" not in r.headers.get("User-Agent", "")
    )


async def test_a_run_waits_for_gpus_with_one_event_then_starts(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_GPUS", "1")  # the worker pod template asks for 1 GPU a pod
    monkeypatch.setenv("RETRY_DELAY_SECONDS", "0.05")
    monkeypatch.setenv("RETRY_MAX_DELAY_SECONDS", "0.4")
    async with operator(cluster):
        await cluster.apply(manifest("first"))
        await eventually(lambda: cluster.get(JOBS, "first-align"), what="the first run's Job")
        await cluster.apply(manifest("second"))
        await eventually(
            lambda: "waiting for GPUs" in cluster.status("second").get("message", ""), what="waits"
        )
        listed = job_lists(cluster)
        await eventually(lambda: job_lists(cluster) >= listed + 4, what="four more attempts")
        assert cluster.get(JOBS, "second-align") is None  # never more GPUs than MAX_GPUS
        assert cluster.status("second")["phase"] == "Pending"
        assert cluster.status("second")["message"] == (
            "waiting for GPUs: this run needs 1, 1 of 1 are taken by first-align"
        )
        waiting = cluster.events("WaitingForGPUs")
        assert len(waiting) == 1 and waiting[0]["type"] == "Normal"  # one event, not one per retry

        await cluster.job_status(
            "first-align",
            {
                "succeeded": 3,
                "completedIndexes": "0-2",
                "conditions": [{"type": "Complete", "status": "True"}],
            },
        )
        await eventually(lambda: cluster.get(JOBS, "second-align"), what="the second run's Job, GPUs freed")


async def test_the_retry_delay_doubles_up_to_its_maximum() -> None:
    config = OperatorSettings(retry_delay_seconds=15, retry_max_delay_seconds=600)
    delays = []
    for retry in range(8):
        # The same reason as the status already says: no new event.
        body = kopf.Body(kopf.RawBody(metadata={"uid": "u"}, status={"message": "waiting"}))  # type: ignore[typeddict-unknown-key]
        attempt = handlers.Attempt(
            body=body,
            status=body.status,
            patch=kopf.Patch(),
            retry=retry,
            config=config,
            announced={},
        )
        delays.append(attempt.wait("Waiting", "waiting").delay)
    assert delays == [15, 30, 60, 120, 240, 480, 600, 600]  # ~10 retries an hour at most, not 240


@pytest.mark.parametrize(
    ("spec", "env", "message"),
    [
        (
            {"overrides": {"resources": {"limits": {"nvidia.com/gpu": 2}}}},
            {},
            "spec.overrides.resources: 2 GPUs per pod; at most 1 (the operator's MAX_GPUS_PER_POD)",
        ),
        (
            {"overrides": {"resources": {"limits": {"nvidia.com/gpu": "500m"}}}},
            {},
            "nvidia.com/gpu must be a whole number of GPUs",
        ),
        ({"parallelism": 3}, {"MAX_GPUS": "2"}, "needs 3 GPUs; AlignmentRuns may use 2 at once (MAX_GPUS)"),
    ],
    ids=["two-gpus-a-pod", "fractional-gpu", "parallelism-over-the-cap"],
)
async def test_a_run_that_could_never_fit_the_gpu_caps_fails(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, spec: dict[str, Any], env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    async with operator(cluster):
        await cluster.apply(manifest("greedy", **spec))
        await eventually(lambda: cluster.status("greedy").get("phase") == "Failed", what="Failed")
    assert message in cluster.status("greedy")["message"]
    assert cluster.creations(JOBS) == []


async def test_a_parallelism_edit_is_cut_to_the_gpus_left(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_GPUS", "2")
    async with operator(cluster):
        await cluster.apply(manifest("widening"))
        await eventually(lambda: cluster.get(JOBS, "widening-align"), what="the Job")
        await cluster.edit_spec("widening", {"parallelism": 3})
        capped = await eventually(lambda: cluster.events("GPUCapReached"), what="a GPUCapReached event")
    assert cluster.get(JOBS, "widening-align")["spec"]["parallelism"] == 2
    assert "parallelism kept at 2" in capped[0]["message"]


async def test_status_moves_without_job_events(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESYNC_SECONDS", "0.2")
    async with operator(cluster):
        await cluster.apply(manifest("quiet"))
        await eventually(lambda: cluster.status("quiet").get("phase") == "Pending", what="Pending")
        # The Job changes while no event reaches the operator (a watch gap): only the re-sync sees it.
        cluster.mock.objects[JOBS, NAMESPACE, "quiet-align"].patch({"status": {"active": 2}})
        await eventually(
            lambda: cluster.status("quiet").get("phase") == "Running", what="Running, by re-sync"
        )
        assert cluster.status("quiet")["running"] == 2


async def test_a_lost_configmap_is_rebuilt_only_when_identical(cluster: Cluster, s3_endpoint: Any) -> None:
    for key in ("berakhot/2.txt", "berakhot/3.txt"):
        s3_endpoint.put_object(Bucket=s3_endpoint.bucket, Key=key, Body=b"text")
    selection = {"selection": {"prefix": "berakhot/", "maxItems": 2}}
    async with operator(cluster):
        await cluster.apply({**manifest("listed"), "spec": {"items": ITEMS}})
        await cluster.apply({**manifest("selected"), "spec": selection})
        for run in ("listed", "selected"):
            await eventually(lambda r=run: cluster.status(r).get("itemsDigest"), what=f"{run} recorded")
    digest = cluster.status("listed")["itemsDigest"]
    assert (
        cluster.get(JOBS, "listed-align")["metadata"]["annotations"]["timestamp.dafyomi.io/items-digest"]
        == digest
    )
    for run in ("listed", "selected"):
        await cluster.delete(CONFIGMAPS, f"{run}-items")
    s3_endpoint.put_object(Bucket=s3_endpoint.bucket, Key="berakhot/1.txt", Body=b"new")  # sorts first

    async with operator(cluster):
        await eventually(lambda: cluster.get(CONFIGMAPS, "listed-items"), what="the listed run's ConfigMap")
        await eventually(lambda: cluster.status("selected").get("phase") == "Failed", what="Failed")
        await eventually(lambda: cluster.events("ItemsRestored"), what="an ItemsRestored event")
    restored = cluster.get(CONFIGMAPS, "listed-items")
    assert restored["metadata"]["annotations"]["timestamp.dafyomi.io/items-digest"] == digest
    assert cluster.get(CONFIGMAPS, "selected-items") is None  # not rebuilt from a selection that changed
    failed = cluster.status("selected")
    assert "the items resolved now differ from those the run started with" in failed["message"]
    accepted = next(c for c in failed["conditions"] if c["type"] == "Accepted")
    assert (accepted["status"], accepted["reason"]) == ("False", "ItemsLost")


async def test_the_operator_stops_with_a_clear_message_while_the_crd_is_not_served(cluster: Cluster) -> None:
    """kopf's scanning is off (no cluster-wide rights), so a CRD installed later would go unnoticed:
    the operator refuses to start instead, and its restarted pod finds the CRD once it is there."""
    del cluster.mock.resources[RUNS]

    def run_to_the_end() -> KopfRunner:
        with KopfRunner(OPERATOR_COMMAND, timeout=30, reraise=False) as runner:
            runner._thread.join(25)  # it stops by itself
        return runner

    runner = await asyncio.to_thread(run_to_the_end)
    assert runner.exit_code != 0
    why = str(runner.exception.__cause__) if runner.exception else ""
    assert "does not serve alignmentruns.timestamp.dafyomi.io/v1alpha1: apply the CRD" in why

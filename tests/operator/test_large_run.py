"""Large runs on KMock: what one Job event of a 5,000-item run costs the operator on the wire, and
what an explicit list may hold.

The mock API (conftest.SelectingEmulator) applies label/field selectors and limit/continue paging as
the API server does, and records the size of every list response it serves.
"""

from __future__ import annotations

import json
from typing import Any

import kmock
import pytest
from timestamp_operator import builders
from timestamp_operator.spec import MAX_LISTED_ITEMS, Item, parse_spec

from tests.operator.conftest import (
    CONFIGMAPS,
    JOBS,
    LIMITS,
    NAMESPACE,
    POD_TEMPLATE,
    PODS,
    RUNS,
    Cluster,
    eventually,
    operator,
)

PODS_RESOURCE = kmock.resource(PODS)
CONFIGMAPS_RESOURCE = kmock.resource(CONFIGMAPS)
RUNS_RESOURCE = kmock.resource(RUNS)
JOBS_RESOURCE = kmock.resource(JOBS)

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

TOTAL = 5000
FAILED = range(4400, TOTAL)  # 600 failed items
RETRIES = 3  # failed pods per failed item (backoffLimitPerIndex 2)
REASON = "audio {key} could not be decoded: " + "ffmpeg said: invalid data found when processing input; " * 12


def outcome(index: int, status: str) -> str:
    """A termination message as the worker's batch mode writes it (~1 KB)."""
    key = f"shas/{index:05}.txt"
    error = REASON.format(key=key)[:900] if status == "failed" else None
    return json.dumps({"status": status, "text_key": key, "audio_key": key[:-4] + ".mp3", "error": error})


def pod(job: str, index: int, attempt: int, phase: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{job}-{index}-{attempt:05}",
            "namespace": NAMESPACE,
            "labels": {builders.JOB_NAME_LABEL: job, builders.INDEX_KEY: str(index)},
        },
        "status": {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": "worker",
                    "state": {
                        "terminated": {
                            "exitCode": 1 if phase == "Failed" else 0,
                            "message": outcome(index, "failed" if phase == "Failed" else "succeeded"),
                            "finishedAt": f"2025-01-01T00:{attempt:02}:00Z",
                        }
                    },
                }
            ],
        },
    }


async def test_a_job_event_of_a_5000_item_run_reads_only_the_listed_failures(cluster: Cluster) -> None:
    spec = {"selection": {"prefix": "shas/", "maxItems": TOTAL}, "parallelism": 2}
    run = await cluster.apply(
        {
            "apiVersion": "timestamp.dafyomi.io/v1alpha1",
            "kind": "AlignmentRun",
            "metadata": {"name": "shas"},
            "spec": spec,
        }
    )
    # What an earlier operator process created for this run (so S3 is not listed 5,000 times here).
    uid = run["metadata"]["uid"]
    owner = {
        "apiVersion": run["apiVersion"],
        "kind": "AlignmentRun",
        "name": "shas",
        "uid": uid,
        "controller": True,
    }
    items = [Item(audio_key=f"shas/{n:05}.mp3", text_key=f"shas/{n:05}.txt") for n in range(TOTAL)]
    configmap = builders.build_items_configmap("shas", items)
    digest = configmap["metadata"]["annotations"][builders.ITEMS_DIGEST]
    job = builders.build_job("shas", parse_spec(spec), digest, TOTAL, POD_TEMPLATE, LIMITS)
    for obj in (configmap, job):
        obj["metadata"]["ownerReferences"] = [owner]
    await cluster.create(CONFIGMAPS, configmap)
    await cluster.create(JOBS, job)
    # The Job controller's pods: one per aligned item, three per failed one (~1 KB messages each).
    pods = [pod("shas-align", i, 0, "Succeeded") for i in range(FAILED.start)]
    pods += [pod("shas-align", i, attempt, "Failed") for i in FAILED for attempt in range(RETRIES)]
    for body in pods:
        cluster.mock.objects[PODS, NAMESPACE, body["metadata"]["name"]] = body
    everything = len(json.dumps({"items": pods}))
    status = {"completedIndexes": f"0-{FAILED.start - 1}", "failedIndexes": f"{FAILED.start}-{TOTAL - 1}"}
    await cluster.job_status("shas-align", {**status, "active": 2})

    before = len(list(cluster.mock))
    events = 6
    async with operator(cluster):
        await eventually(lambda: cluster.status("shas").get("failed") == len(FAILED), what="the failures")
        for active in range(1, events + 1):  # the Job controller reports progress again and again
            await cluster.job_status("shas-align", {**status, "active": active, "ready": active})
            await eventually(
                lambda a=active: cluster.status("shas").get("running") == a, what=f"running {active}"
            )
    requests = list(cluster.mock)[before:]

    result = cluster.status("shas")
    assert (result["total"], result["succeeded"], result["failed"]) == (TOTAL, FAILED.start, len(FAILED))
    assert len(result["failedItems"]) == 50 and result["failedItemsTruncated"] is True
    first = result["failedItems"][0]
    assert (first["index"], first["textKey"]) == (FAILED.start, f"shas/{FAILED.start:05}.txt")
    assert first["reason"].startswith(f"audio shas/{FAILED.start:05}.txt could not be decoded")

    pod_lists = [r for r in requests if r.resource == PODS_RESOURCE and r.params.get("watch") != "true"]
    listings = [r for r in pod_lists if not r.params.get("continue")]
    assert events + 1 <= len(listings) <= events + 3  # one per Job event (start-up and re-syncs aside)
    shown = ",".join(str(i) for i in FAILED[:50])
    for request in pod_lists:
        assert request.params["labelSelector"] == (
            f"batch.kubernetes.io/job-name=shas-align,batch.kubernetes.io/job-completion-index in ({shown})"
        )
        assert (request.params["fieldSelector"], request.params["limit"]) == ("status.phase=Failed", "50")
    assert len(pod_lists) == 3 * len(listings)  # 150 failed pods of the 50 listed items, 50 a page

    served = [size for request, size in cluster.mock.served if request in pod_lists]
    per_event = sum(served) / len(listings)
    assert max(served) < 150_000 and per_event < 400_000
    assert per_event * 20 < everything  # a listing of every pod of the Job: ~8 MB
    # The 5,000 recorded items are read once, then kept in memory.
    configmap_reads = [r for r in requests if r.resource == CONFIGMAPS_RESOURCE and r.method == "GET"]
    assert len(configmap_reads) <= 2, [r.id for r in configmap_reads]
    # Status patches stay small: counts and the first 50 failures.
    status_patches = [r for r in requests if r.resource == RUNS_RESOURCE and r.subresource == "status"]
    assert status_patches and max(len(r.body) for r in status_patches) < 64_000
    # kopf lists and watches only the operator's Jobs.
    job_reads = [r for r in requests if r.resource == JOBS_RESOURCE and r.name is None and r.method == "GET"]
    assert job_reads and {r.params.get("labelSelector") for r in job_reads} == {
        "app.kubernetes.io/managed-by=timestamp-operator"
    }


async def test_an_explicit_list_fits_kopfs_annotations_and_a_bigger_one_is_steered_to_selection(
    cluster: Cluster,
) -> None:
    listed = [
        {"audioKey": f"shas/{n:05}.mp3", "textKey": f"shas/{n:05}.txt"} for n in range(MAX_LISTED_ITEMS + 1)
    ]
    manifest = {"apiVersion": "timestamp.dafyomi.io/v1alpha1", "kind": "AlignmentRun"}
    async with operator(cluster):
        await cluster.apply({**manifest, "metadata": {"name": "listed"}, "spec": {"items": listed[:-1]}})
        await cluster.apply({**manifest, "metadata": {"name": "too-many"}, "spec": {"items": listed}})
        await eventually(lambda: cluster.get(JOBS, "listed-align"), what="the 1,000-item Job")
        await eventually(lambda: cluster.status("too-many").get("phase") == "Failed", what="refused")
        await eventually(lambda: cluster.status("listed").get("phase") == "Pending", what="Pending")
    assert "align more with `selection`" in cluster.status("too-many")["message"]
    annotations = cluster.run("listed")["metadata"].get("annotations") or {}
    # kopf's copy of the spec leaves the item list out (it is immutable and recorded in the ConfigMap).
    diffbase = json.loads(annotations["kopf.zalando.org/last-handled-configuration"])
    assert "items" not in diffbase.get("spec", {})
    assert sum(len(k) + len(v) for k, v in annotations.items()) < 4096
    assert cluster.get(JOBS, "listed-align")["spec"]["completions"] == MAX_LISTED_ITEMS

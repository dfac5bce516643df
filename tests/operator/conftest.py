"""The operator against KMock: a stateful mock Kubernetes API on a real port, and the real `kopf run`.

KMock has no controllers, so the tests play their parts explicitly: the API server (uid, generation
of a new run), the Job controller (Job status, failed pods with termination messages) and the
garbage collector (deleting what a deleted run owned). The operator finds KMock through KUBECONFIG,
exactly as `kopf run` on a laptop finds a cluster, and S3 through AWS_ENDPOINT_URL (moto's server).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import boto3
import kmock
import pytest
import pytest_asyncio
import yaml
from kopf.testing import KopfRunner
from timestamp_operator.builders import JobLimits

from tests.conftest import AWS_ENV
from tests.operator.k8s_schemas import load_crd

RUNS = "timestamp.dafyomi.io/v1alpha1/alignmentruns"
RUNS_API = "/apis/timestamp.dafyomi.io/v1alpha1"
JOBS = "batch/v1/jobs"
CONFIGMAPS = "v1/configmaps"
PODS = "v1/pods"
EVENTS = "v1/events"
NAMESPACE = "lectures"
TEST_AGENT = "tests/operator"
OPERATOR_COMMAND = [
    "run",
    "--standalone",
    "--all-namespaces",
    "--verbose",
    "-m",
    "timestamp_operator.handlers",
]

# What the chart renders into /etc/timestamp-operator/pod-template.yaml (trimmed to what matters here).
POD_TEMPLATE = {
    "metadata": {
        "labels": {"app.kubernetes.io/name": "gpu-timestamp", "app.kubernetes.io/component": "worker"}
    },
    "spec": {
        "serviceAccountName": "gpu-timestamp",
        "restartPolicy": "Never",
        "nodeSelector": {"nvidia.com/gpu.present": "true"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [
            {
                "name": "worker",
                "image": "registry.example/gpu-timestamp:1.0.0",
                "envFrom": [{"configMapRef": {"name": "gpu-timestamp-worker-env"}}],
                "env": [{"name": "HOME", "value": "/tmp"}, {"name": "WHISPER_MODEL", "value": "base"}],
                "resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"nvidia.com/gpu": 1}},
                "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    },
}


LIMITS = JobLimits(
    backoff_limit_per_index=2,
    item_deadline_seconds=7200,
    run_deadline_seconds=604800,
    ttl_seconds_after_finished=604800,
)


async def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll `check` (sync or async) until it returns something truthy without raising, for `timeout` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            last = result
        except (AssertionError, KeyError, IndexError, TypeError, ValueError, OSError) as error:
            last = error
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or check}; last: {last!r}")
        await asyncio.sleep(0.05)


def _label_matches(labels: dict[str, str], requirement: str) -> bool:
    """One label selector requirement: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`."""
    if found := re.fullmatch(r"\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*", requirement):
        key, op, values = found.groups()
        inside = labels.get(key) in {v.strip() for v in values.split(",")}
        return inside if op == "in" else not inside
    if found := re.fullmatch(r"\s*([^\s!=]+)\s*(!=|==|=)\s*(\S*)\s*", requirement):
        key, op, value = found.groups()
        return (labels.get(key) == value) == (op != "!=")
    key = requirement.strip()
    return key[1:] not in labels if key.startswith("!") else key in labels


def _requirements(selector: str) -> list[str]:
    """Split a selector on the commas outside parentheses."""
    return [part for part in re.split(r",(?![^(]*\))", selector) if part.strip()]


def selected(obj: dict[str, Any], params: Any) -> bool:
    """Whether an object matches a request's labelSelector and fieldSelector (as the API server does)."""
    labels = obj.get("metadata", {}).get("labels") or {}
    if not all(_label_matches(labels, r) for r in _requirements(params.get("labelSelector") or "")):
        return False
    for requirement in _requirements(params.get("fieldSelector") or ""):
        path, op, value = re.fullmatch(r"([\w.]+)(!=|==|=)(.*)", requirement.strip()).groups()  # type: ignore[union-attr]
        actual: Any = obj
        for part in path.split("."):
            actual = actual.get(part) if isinstance(actual, dict) else None
        if (str(actual) == value) != (op != "!="):
            return False
    return True


@attrs.define(kw_only=True)
class SelectingEmulator(kmock.KubernetesEmulator):
    """KMock plus what the API server does and KMock leaves out: label and field selectors on lists
    and watches, and `limit`/`continue` paging. Each list response's size is recorded (`served`)."""

    served: list[tuple[Any, int]] = attrs.field(factory=list, init=False)
    refused: list[str] = attrs.field(factory=list, init=False)

    async def __call__(self, raw_request: Any) -> Any:
        # kopf lists namespaces when it serves named ones (--namespace). KMock cannot parse that
        # collection's path; the operator's RBAC does not grant it: answer as the API server then does.
        if raw_request.path == "/api/v1/namespaces":
            self.refused.append(str(raw_request.rel_url))
            message = "namespaces is forbidden: cannot list resource namespaces at the cluster scope"
            status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden"}
            return aiohttp.web.json_response({**status, "code": 403, "message": message}, status=403)
        return await super().__call__(raw_request)

    async def _serve_list(self, request: Any) -> Any:
        everything = await super()._serve_list(request)
        matching = [obj for obj in everything["items"] if selected(obj, request.params)]
        start, limit = int(request.params.get("continue") or 0), int(request.params.get("limit") or 0)
        end = start + limit if limit else len(matching)
        metadata = {"resourceVersion": "..."} | ({"continue": str(end)} if end < len(matching) else {})
        page = {"metadata": metadata, "items": matching[start:end]}
        self.served.append((request, len(json.dumps(page))))
        return page

    async def _serve_watch(self, request: Any) -> Any:
        async for event in super()._serve_watch(request):
            if not isinstance(event, dict) or selected(event.get("object") or {}, request.params):
                yield event


@pytest.fixture
def kmock_options(kmock_options: dict[str, Any]) -> dict[str, Any]:
    return {**kmock_options, "cls": SelectingEmulator}


@pytest.fixture
def pod_template_file(tmp_path: Path) -> Path:
    path = tmp_path / "pod-template.yaml"
    path.write_text(yaml.safe_dump(POD_TEMPLATE))
    return path


def _api(resource: str) -> str:
    """ "v1/pods" -> "/api/v1", "batch/v1/jobs" -> "/apis/batch/v1"."""
    group_version = resource.rsplit("/", 1)[0]
    return f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"


@dataclass
class Cluster:
    """The test's side of the mock cluster: kubectl, the Job controller, the garbage collector."""

    mock: kmock.KubernetesEmulator
    uids: dict[str, str] = field(default_factory=dict)

    async def _call(self, method: str, url: str, body: Any = None) -> Any:
        headers = {"User-Agent": TEST_AGENT}  # tells the test's own requests from the operator's
        if method == "PATCH":
            headers["Content-Type"] = "application/merge-patch+json"
        async with self.mock.request(method, url, json=body, headers=headers) as response:
            assert response.status < 400, f"{method} {url}: {response.status} {await response.text()}"
            return await response.json()

    # --- kubectl ---

    async def apply(self, manifest: dict[str, Any], namespace: str = NAMESPACE) -> dict[str, Any]:
        """Create a run as the API server would store it (uid, generation, creation time)."""
        name = manifest["metadata"]["name"]
        self.uids[name] = str(uuid.uuid4())
        meta = {
            **manifest["metadata"],
            "namespace": namespace,
            "uid": self.uids[name],
            "generation": 1,
            "creationTimestamp": "2025-01-01T00:00:00Z",
        }
        return dict(
            await self._call(
                "POST", f"{RUNS_API}/namespaces/{namespace}/alignmentruns", {**manifest, "metadata": meta}
            )
        )

    async def create(self, resource: str, obj: dict[str, Any], namespace: str = NAMESPACE) -> None:
        """Create an object directly (as something other than the operator did)."""
        group_version, plural = resource.rsplit("/", 1)
        kinds = {"jobs": "Job", "configmaps": "ConfigMap"}
        body = {"apiVersion": group_version, "kind": kinds[plural], **obj}
        body["metadata"] = {**obj["metadata"], "namespace": namespace}
        await self._call("POST", f"{_api(resource)}/namespaces/{namespace}/{plural}", body)

    async def edit_spec(self, name: str, spec: dict[str, Any], namespace: str = NAMESPACE) -> None:
        generation = self.run(name, namespace)["metadata"]["generation"] + 1
        url = f"{RUNS_API}/namespaces/{namespace}/alignmentruns/{name}"
        await self._call("PATCH", url, {"metadata": {"generation": generation}, "spec": spec})

    async def delete(self, resource: str, name: str, namespace: str = NAMESPACE) -> None:
        plural = resource.rsplit("/", 1)[1]
        await self._call("DELETE", f"{_api(resource)}/namespaces/{namespace}/{plural}/{name}")

    # --- reading the store ---

    def get(self, resource: str, name: str, namespace: str = NAMESPACE) -> dict[str, Any] | None:
        key = (kmock.resource(resource), namespace, name)
        if key not in self.mock.objects or self.mock.objects[key].deleted:
            return None
        return dict(self.mock.objects[key].raw)

    def run(self, name: str, namespace: str = NAMESPACE) -> dict[str, Any]:
        run = self.get(RUNS, name, namespace)
        assert run is not None, f"no run {name}"
        return run

    def status(self, name: str, namespace: str = NAMESPACE) -> dict[str, Any]:
        return dict(self.run(name, namespace).get("status") or {})

    def names(self, resource: str, namespace: str = NAMESPACE) -> list[str]:
        wanted = kmock.resource(resource)
        return sorted(
            n
            for (r, ns, n), obj in self.mock.objects.items()
            if r == wanted and ns == namespace and not obj.deleted
        )

    def creations(self, resource: str) -> list[Any]:
        """Every create request for a resource (accepted or refused)."""
        return [r for r in list(self.mock) if r.method == "POST" and r.resource == resource]

    def watches(self, resource: str, since: int = 0) -> bool:
        wanted = kmock.resource(resource)
        return any(
            r.method == "GET" and r.params.get("watch") == "true" and r.resource == wanted
            for r in list(self.mock)[since:]
        )

    def events(self, reason: str | None = None) -> list[dict[str, Any]]:
        posted = [dict(r.data) for r in self.creations(EVENTS)]
        return [e for e in posted if reason is None or e.get("reason") == reason]

    # --- the Job controller ---

    async def job_status(self, job: str, status: dict[str, Any], namespace: str = NAMESPACE) -> None:
        await self._call(
            "PATCH", f"/apis/batch/v1/namespaces/{namespace}/jobs/{job}/status", {"status": status}
        )

    async def failed_pod(
        self, job: str, index: int, message: str, exit_code: int = 1, namespace: str = NAMESPACE
    ) -> None:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{job}-{index}-{uuid.uuid4().hex[:5]}",
                "namespace": namespace,
                "labels": {
                    "batch.kubernetes.io/job-name": job,
                    "batch.kubernetes.io/job-completion-index": str(index),
                },
            },
            "status": {
                "phase": "Failed",
                "containerStatuses": [
                    {
                        "name": "worker",
                        "state": {
                            "terminated": {
                                "exitCode": exit_code,
                                "reason": "Error",
                                "message": message,
                                "finishedAt": "2025-01-01T00:10:00Z",
                            }
                        },
                    }
                ],
            },
        }
        await self._call("POST", f"/api/v1/namespaces/{namespace}/pods", pod)

    # --- the garbage collector ---

    async def collect_garbage(self, owner_uid: str) -> list[str]:
        """Delete what the deleted owner owned (the real GC does it by ownerReferences)."""
        collected = []
        for (resource, namespace, name), obj in list(self.mock.objects.items()):
            refs = [] if obj.deleted else obj.raw.get("metadata", {}).get("ownerReferences") or []
            if any(ref.get("uid") == owner_uid for ref in refs):
                await self.delete(
                    f"{resource.group + '/' if resource.group else ''}{resource.version}/{resource.plural}",
                    name,
                    namespace,
                )
                collected.append(f"{resource.plural}/{name}")
        return sorted(collected)


@pytest.fixture
def s3_endpoint(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A text bucket of its own on moto's S3 server; the operator reaches it via AWS_ENDPOINT_URL."""
    for name, value in {**AWS_ENV, "AWS_ENDPOINT_URL": moto_endpoint}.items():
        monkeypatch.setenv(name, value)
    bucket = f"text-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("TEXT_BUCKET", bucket)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    s3.bucket = bucket  # type: ignore[attr-defined]
    yield s3


@pytest_asyncio.fixture
async def cluster(
    kmock: kmock.KubernetesEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pod_template_file: Path,
    s3_endpoint: Any,
) -> Cluster:
    info = kmock.ResourceInfo
    verbs = {"get", "list", "watch", "create", "patch", "update", "delete"}
    kmock.resources[RUNS] = info(
        kind="AlignmentRun", namespaced=True, subresources={"status"}, verbs=verbs, shortnames={"arun"}
    )
    kmock.resources[JOBS] = info(kind="Job", namespaced=True, subresources={"status"}, verbs=verbs)
    kmock.resources[CONFIGMAPS] = info(kind="ConfigMap", namespaced=True, verbs=verbs)
    kmock.resources[PODS] = info(kind="Pod", namespaced=True, subresources={"status"}, verbs=verbs)
    kmock.resources[EVENTS] = info(kind="Event", namespaced=True, verbs=verbs)
    kmock.resources["v1/namespaces"] = info(kind="Namespace", namespaced=False, verbs=verbs)  # kopf awaits it
    crds = "apiextensions.k8s.io/v1/customresourcedefinitions"
    kmock.resources[crds] = info(kind="CustomResourceDefinition", namespaced=False, verbs=verbs)
    kmock.objects[crds, None, "alignmentruns.timestamp.dafyomi.io"] = load_crd()

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "kmock",
                "clusters": [{"name": "kmock", "cluster": {"server": str(kmock.url).rstrip("/")}}],
                "users": [{"name": "tester", "user": {"token": "not-checked"}}],
                "contexts": [
                    {
                        "name": "kmock",
                        "context": {"cluster": "kmock", "user": "tester", "namespace": NAMESPACE},
                    }
                ],
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("WORKER_POD_TEMPLATE", str(pod_template_file))
    return Cluster(kmock)


@contextlib.asynccontextmanager
async def operator(
    cluster: Cluster, *extra_args: str, command: list[str] | None = None
) -> AsyncIterator[KopfRunner]:
    """`kopf run` of the real handlers module, in a thread (its own event loop), stopped on exit.

    Entered once it watches runs and Jobs, so that a run applied next arrives as one watch event (a
    run that exists before the watch starts is seen twice by KMock's list-then-watch, which has no
    resource versions to tell the two apart: harmless, the handlers are idempotent, but racy to test).
    """
    before = len(list(cluster.mock))
    runner = KopfRunner([*(command or OPERATOR_COMMAND), *extra_args], timeout=30)
    runner.__enter__()
    try:
        for resource in (RUNS, JOBS):
            await eventually(
                lambda r=resource: cluster.watches(r, since=before), what=f"a watch on {resource}"
            )
        yield runner
    finally:
        # Stopping joins the thread: do it off this loop, which serves KMock's HTTP meanwhile.
        await asyncio.to_thread(runner.__exit__, None, None, None)

"""The chart's operator RBAC against what the operator really does.

The operator runs with the command the chart's Deployment gives it (so `--namespace` or
`--all-namespaces` as rendered) against KMock, through a run's whole life: create, Job, a failed
item (its pods and items read), a parallelism edit, events. Every request seen on the wire must be
allowed by the rendered Roles and bindings of the operator's ServiceAccount, and every granted rule
must be used (or be one the API server checks without a request of ours).
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import yaml
from timestamp_operator.kube import CALLS

from tests.chart.chart import find_helm
from tests.operator.conftest import JOBS, NAMESPACE, TEST_AGENT, Cluster, eventually, operator
from tests.operator.k8s_schemas import REPO

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]

Rule = tuple[str, str, str]  # (apiGroup, resource[/subresource], verb)
# Checked by the API server on our own create requests, never requested as such: owner references with
# blockOwnerDeletion need `update` on the owner's finalizers (OwnerReferencesPermissionEnforcement).
AUTHORIZATION_ONLY = {("timestamp.dafyomi.io", "alignmentruns/finalizers", "update")}
ITEMS = [
    {"audioKey": "berakhot/2.mp3", "textKey": "berakhot/2.txt"},
    {"audioKey": "berakhot/3.mp3", "textKey": "berakhot/3.txt"},
]


def render(*values: str) -> list[dict[str, Any]]:
    command = [find_helm(), "template", "gpu-timestamp", str(REPO / "charts" / "gpu-timestamp"),
               "--namespace", NAMESPACE, "--api-versions", "keda.sh/v1alpha1",
               "--set", "worker.env.SQS_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/1/q",
               "--set", "operator.enabled=true"]  # fmt: skip
    for value in values:
        command += ["--set", value]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(output) if d]


class Authorizer:
    """RBAC's decision for the operator's ServiceAccount, from the rendered objects."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        deployment = next(
            o for o in objects if o["kind"] == "Deployment" and "operator" in o["metadata"]["name"]
        )
        self.account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        self.command = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
        roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects
                 if o["kind"] in ("Role", "ClusterRole")}  # fmt: skip
        self.cluster: list[dict[str, Any]] = []  # rules valid everywhere
        self.namespaced: dict[str, list[dict[str, Any]]] = {}  # rules valid in one namespace
        for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
            subject = {"kind": "ServiceAccount", "name": self.account, "namespace": NAMESPACE}
            if subject not in binding["subjects"]:
                continue
            ref = binding["roleRef"]
            scope = binding["metadata"].get("namespace") if ref["kind"] == "Role" else None
            rules = roles[(ref["kind"], scope, ref["name"])]["rules"]
            if binding["kind"] == "ClusterRoleBinding":
                self.cluster += rules
            else:
                self.namespaced.setdefault(binding["metadata"]["namespace"], []).extend(rules)

    @staticmethod
    def _match(rules: list[dict[str, Any]], rule: Rule) -> bool:
        group, resource, verb = rule
        return any(
            group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules
        )

    def allows(self, rule: Rule, namespace: str | None) -> bool:
        rules = self.cluster + (self.namespaced.get(namespace, []) if namespace else [])
        return self._match(rules, rule)

    def granted(self) -> set[Rule]:
        return {
            (group, resource, verb)
            for rule in self.cluster + [r for rs in self.namespaced.values() for r in rs]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            for verb in rule["verbs"]
        }


def requested(request: Any) -> tuple[Rule, str | None] | None:
    """The RBAC rule a recorded request needs, and its namespace (None: cluster-wide); None for discovery."""
    if request.resource is None or not request.resource.plural:
        return None  # /api, /apis, /version: discovery, open to every authenticated user
    action = str(request.action.value if hasattr(request.action, "value") else request.action).lower()
    method = str(request.method.value if hasattr(request.method, "value") else request.method).upper()
    verb = {"list": "list", "watch": "watch", "fetch": "get", "create": "create", "delete": "delete"}.get(
        action
    )
    if action == "update":
        verb = "patch" if method == "PATCH" else "update"
    resource = request.resource.plural + (f"/{request.subresource}" if request.subresource else "")
    return (request.resource.group or "", resource, str(verb)), request.namespace


async def a_runs_life(cluster: Cluster) -> None:
    await cluster.apply({"apiVersion": "timestamp.dafyomi.io/v1alpha1", "kind": "AlignmentRun",
                         "metadata": {"name": "audited"}, "spec": {"items": ITEMS}})  # fmt: skip
    await eventually(lambda: cluster.get(JOBS, "audited-align"), what="the Job")
    await cluster.failed_pod(
        "audited-align", 1, json.dumps({"status": "failed", "error": "audio is missing"})
    )
    await cluster.job_status("audited-align", {"active": 1, "completedIndexes": "0", "failedIndexes": "1"})
    await eventually(lambda: cluster.status("audited").get("failedItems"), what="the failed item")
    await cluster.edit_spec("audited", {"parallelism": 2})
    await eventually(lambda: cluster.get(JOBS, "audited-align")["spec"]["parallelism"] == 2, what="edited")
    await eventually(lambda: cluster.events("JobUpdated"), what="an event")


@pytest.mark.parametrize("values", [(), ("operator.watchAllNamespaces=true",)], ids=["namespaced", "cluster"])
async def test_the_rendered_rbac_allows_exactly_what_the_operator_does(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, values: tuple[str, ...]
) -> None:
    authorizer = Authorizer(render(*values))
    assert authorizer.command[0] == "kopf"
    args = [a for a in authorizer.command[1:] if not a.startswith("--liveness")]
    monkeypatch.setenv("WORKER_NAMESPACE", NAMESPACE)
    before = len(list(cluster.mock))
    async with operator(cluster, command=args):
        await a_runs_life(cluster)

    used: set[Rule] = set()
    denied = []
    for request in list(cluster.mock)[before:]:
        if request.headers.get("User-Agent") == TEST_AGENT:  # the test playing kubectl and the controllers
            continue
        need = requested(request)
        if need is None:
            continue
        rule, namespace = need
        used.add(rule)
        if not authorizer.allows(rule, namespace):
            denied.append((rule, namespace, str(request.url.path)))
    assert denied == []
    granted = authorizer.granted()
    assert sorted(granted - used - AUTHORIZATION_ONLY) == [], "rules the operator never needed"
    assert granted >= CALLS  # every call kube.py can make, including the ones this life did not
    # kopf's scanning is off: it never asks for namespaces or CRDs, so nothing is cluster-wide by default.
    assert cluster.mock.refused == []
    if not values:
        assert authorizer.cluster == [] and set(authorizer.namespaced) == {NAMESPACE}

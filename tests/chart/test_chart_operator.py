"""The AlignmentRun operator's objects: absent by default; when enabled, a kopf Deployment with split RBAC."""

from __future__ import annotations

from typing import Any

import yaml

from tests.chart.chart import CHART, NAMESPACE, Helm, of_kind, only, worker_template

CI = CHART / "ci"
OPERATOR_KINDS = {
    "Deployment",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "CustomResourceDefinition",
}


def rules(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def named(objects: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    (found,) = [o for o in of_kind(objects, kind) if o["metadata"]["name"].endswith(suffix)]
    return found


def test_off_by_default(default_objects: list[dict[str, Any]]) -> None:
    assert {o["kind"] for o in default_objects} & OPERATOR_KINDS == set()
    assert len(of_kind(default_objects, "ServiceAccount")) == 1
    assert [o["metadata"]["name"] for o in of_kind(default_objects, "ConfigMap")] == [
        "dafyomi-gpu-timestamp-worker-env"
    ]


def test_deployment(helm: Helm) -> None:
    objects = helm.template(CI / "05-operator-values.yaml")
    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == [
        "kopf", "run", "--standalone", "--all-namespaces", "--liveness=http://0.0.0.0:8080/healthz",
        "-m", "timestamp_operator.handlers",
    ]  # fmt: skip
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {
        "WORKER_POD_TEMPLATE": "/etc/timestamp-operator/pod-template.yaml",
        "WORKER_NAMESPACE": NAMESPACE,  # runs elsewhere would lack the worker's ServiceAccount and env
        "MAX_GPUS": "2",
        "BACKOFF_LIMIT_PER_INDEX": "3",
    }
    # Its own small image, not the CUDA worker's.
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert container["image"] == f"gpu-timestamp-operator:{app_version}"
    assert container["image"] != worker_template(objects)["spec"]["containers"][0]["image"]
    assert {"configMapRef": {"name": "dafyomi-gpu-timestamp-worker-env"}} in container["envFrom"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/timestamp-operator")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "dafyomi-gpu-timestamp-worker-pod-template"
    account = named(objects, "ServiceAccount", "-operator")
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/gpu-timestamp-operator"
    }


def test_batch_jobs_start_from_the_scaled_jobs_pod(helm: Helm) -> None:
    objects = helm.template(CI / "05-operator-values.yaml")
    published = yaml.safe_load(
        named(objects, "ConfigMap", "-worker-pod-template")["data"]["pod-template.yaml"]
    )
    assert published == worker_template(objects)
    assert [c["name"] for c in published["spec"]["containers"]] == ["worker"]


def test_rbac_all_namespaces(helm: Helm) -> None:
    objects = helm.template(CI / "05-operator-values.yaml")
    account = named(objects, "ServiceAccount", "-operator")["metadata"]["name"]
    application = named(objects, "ClusterRole", "-operator")
    granted = rules(application)
    # Exactly what the operator uses (operator/README.md): it creates and reads, never deletes.
    assert granted == {
        *{("timestamp.dafyomi.io", "alignmentruns", verb) for verb in ("get", "list", "watch", "patch")},
        ("timestamp.dafyomi.io", "alignmentruns/status", "patch"),
        ("timestamp.dafyomi.io", "alignmentruns/finalizers", "update"),
        *{("batch", "jobs", verb) for verb in ("get", "list", "watch", "create", "patch")},
        ("", "configmaps", "get"),
        ("", "configmaps", "create"),
        ("", "pods", "list"),
        ("", "events", "create"),
    }
    assert not any(verb in {"*", "escalate", "bind", "impersonate"} for _, _, verb in granted)
    for binding in of_kind(objects, "ClusterRoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]
    assert not of_kind(objects, "Role")


def test_rbac_release_namespace_only(helm: Helm) -> None:
    objects = helm.template(CI / "06-operator-namespaced-values.yaml")
    assert (
        f"--namespace={NAMESPACE}"
        in only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["command"]
    )
    role, binding = only(objects, "Role"), only(objects, "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == NAMESPACE
    assert ("timestamp.dafyomi.io", "alignmentruns", "watch") in rules(role)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    # Nothing cluster-wide: kopf's scanning is off (tests/operator/test_rbac.py runs the operator on these).
    assert not of_kind(objects, "ClusterRole") and not of_kind(objects, "ClusterRoleBinding")
    assert not of_kind(objects, "CustomResourceDefinition")

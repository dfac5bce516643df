"""The chart rendered by the real helm binary, and the schemas every rendered object must satisfy.

Kubernetes kinds are checked against the Kubernetes 1.33 "local-strict" JSON schemas (unknown fields
are errors). KEDA kinds are checked against the KEDA 2.20 CRDs' openAPIV3Schema, made strict the same
way (the CRDs themselves accept unknown fields, which the API server would then silently drop), and their
metadata and job template against the Kubernetes schemas too.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

from bench.scaling.chart import find_helm as find_helm  # re-exported: tests/operator use it too

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "gpu-timestamp"
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
KUBE_VERSION = "1.33.0"
NAMESPACE = "alignment"
RELEASE = "dafyomi"

K8S_KINDS = {
    ("v1", "ConfigMap"): "configmap-v1.json",
    ("v1", "ServiceAccount"): "serviceaccount-v1.json",
    ("apps/v1", "Deployment"): "deployment-apps-v1.json",
    ("rbac.authorization.k8s.io/v1", "Role"): "role-rbac-v1.json",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "rolebinding-rbac-v1.json",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "clusterrole-rbac-v1.json",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "clusterrolebinding-rbac-v1.json",
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): "customresourcedefinition-apiextensions-v1.json",
}
# Kinds without a vendored file: their definition in _definitions.json (the same local-strict schemas).
K8S_DEFINITIONS = {
    ("v1", "Pod"): "io.k8s.api.core.v1.Pod",
    ("v1", "ResourceQuota"): "io.k8s.api.core.v1.ResourceQuota",
    ("networking.k8s.io/v1", "NetworkPolicy"): "io.k8s.api.networking.v1.NetworkPolicy",
}
KEDA_KINDS = {
    ("keda.sh/v1alpha1", "ScaledJob"): "keda.sh_scaledjobs.yaml",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda.sh_triggerauthentications.yaml",
}
DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"
# What a cluster with KEDA serves; `helm template` knows only built-in APIs (`keda.requireCRDs` checks it).
KEDA_API = "keda.sh/v1alpha1"


def scenario_id(path: Path) -> str:
    return path.name.removesuffix("-values.yaml")


# --- helm (found, or fetched, as bench.scaling finds it) -----------------------------------------


class HelmError(Exception):
    pass


@dataclass(frozen=True)
class Helm:
    binary: str

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, *args], capture_output=True, text=True, cwd=REPO, timeout=60)

    def lint(self, values: Path) -> subprocess.CompletedProcess[str]:
        # helm lint has no --api-versions: the KEDA check is switched off for it.
        return self.run(
            "lint", "--strict", str(CHART), "-f", str(values), "--kube-version", KUBE_VERSION,
            "--set", "keda.requireCRDs=false",
        )  # fmt: skip

    def template(
        self, *values: Path, set_json: tuple[str, ...] = (), keda: bool = True
    ) -> list[dict[str, Any]]:
        """The rendered objects (a fresh deep copy: callers may modify them); `keda`: KEDA is served."""
        return copy.deepcopy(self._template(values, set_json, keda))

    def notes(self, values: Path) -> str:
        """NOTES.txt as `helm install` prints it (a client-side dry run: no cluster needed)."""
        result = self.run(
            "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "-f", str(values), "--dry-run=client",
            "--set", "keda.requireCRDs=false",  # helm install has no --api-versions
        )  # fmt: skip
        if result.returncode != 0:
            raise HelmError(result.stderr.strip())
        return result.stdout.split("\nNOTES:\n", 1)[1]

    @cache  # noqa: B019 - a session-lived Helm instance; rendering is pure
    def _template(
        self, values: tuple[Path, ...], set_json: tuple[str, ...], keda: bool
    ) -> list[dict[str, Any]]:
        args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
        if keda:
            args += ["--api-versions", KEDA_API]
        for path in values:
            args += ["-f", str(path)]
        for item in set_json:
            args += ["--set-json", item]
        result = self.run(*args)
        if result.returncode != 0:
            raise HelmError(result.stderr.strip())
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


# --- rendered objects ---------------------------------------------------------------------------


def only(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def pod_templates(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod template rendered: the ScaledJob's, the operator Deployment's, the one for batch Jobs."""
    for obj in objects:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "ScaledJob":
            yield name, obj["spec"]["jobTargetRef"]["template"]
        elif obj["kind"] == "Deployment":
            yield name, obj["spec"]["template"]
        elif obj["kind"] == "ConfigMap" and "pod-template.yaml" in obj.get("data", {}):
            yield name, yaml.safe_load(obj["data"]["pod-template.yaml"])
        elif obj["kind"] == "Pod":
            yield name, {"metadata": obj["metadata"], "spec": obj["spec"]}


def worker_template(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(only(objects, "ScaledJob")["spec"]["jobTargetRef"]["template"])


def worker_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = worker_template(objects)["spec"]["containers"]
    return dict(container)


# --- schemas ------------------------------------------------------------------------------------


@cache
def _registry() -> Registry:
    definitions = json.loads((SCHEMAS / "k8s" / "_definitions.json").read_text())
    registry: Registry = Registry().with_resource(DEFINITIONS_URI, Resource.from_contents(definitions))
    return registry


@cache
def _k8s_validator(schema_file: str) -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(
        json.loads((SCHEMAS / "k8s" / schema_file).read_text()), registry=_registry()
    )


@cache
def _k8s_definition(name: str) -> jsonschema.protocols.Validator:
    schema = {"$ref": f"{DEFINITIONS_URI}#/$defs/{name}"}
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def _strict(schema: Any) -> Any:
    """A CRD schema in which every object with declared properties refuses undeclared ones."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def _keda_validator(crd_file: str) -> jsonschema.protocols.Validator:
    crd = yaml.safe_load((SCHEMAS / "keda" / crd_file).read_text())
    (version,) = crd["spec"]["versions"]
    return jsonschema.Draft7Validator(_strict(version["schema"]["openAPIV3Schema"]))


def _errors(validator: jsonschema.protocols.Validator, instance: Any, prefix: str = "") -> list[str]:
    return [
        f"{prefix}/{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]


def schema_problems(obj: dict[str, Any]) -> list[str]:
    """What the API server (with strict field validation) would refuse in a rendered object."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key in K8S_KINDS:
        return _errors(_k8s_validator(K8S_KINDS[key]), obj)
    if key in K8S_DEFINITIONS:
        return _errors(_k8s_definition(K8S_DEFINITIONS[key]), obj)
    if key in KEDA_KINDS:
        problems = _errors(_keda_validator(KEDA_KINDS[key]), obj)
        problems += _errors(
            _k8s_definition("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"), obj["metadata"], "/metadata"
        )
        if obj["kind"] == "ScaledJob":
            job_spec = obj["spec"]["jobTargetRef"]
            problems += _errors(
                _k8s_definition("io.k8s.api.batch.v1.JobSpec"), job_spec, "/spec/jobTargetRef"
            )
        return problems
    return [f"no schema for {key}: vendor one into tests/schemas"]


def pod_template_problems(template: dict[str, Any]) -> list[str]:
    return _errors(_k8s_definition("io.k8s.api.core.v1.PodTemplateSpec"), template)

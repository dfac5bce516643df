"""Validation against Kubernetes' own schemas and against the AlignmentRun CRD's openAPIV3Schema.

jsonschema checks what OpenAPI says; the API server also does two things jsonschema does not, and
`crd_problems` adds them: strict field validation (kubectl's default since 1.27: an unknown field is
an error, not silently pruned) and the uniqueness of `x-kubernetes-list-type: map` keys.
`cel_problems` evaluates the CRD's CEL rules (x-kubernetes-validations) with cel-python.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import yaml
from referencing import Registry, Resource

REPO = Path(__file__).resolve().parents[2]
# The Kubernetes 1.33 schemas the chart and operator tests share (with the common _definitions.json).
SCHEMA_DIRS = (REPO / "tests" / "schemas" / "k8s",)
CRD_FILE = REPO / "charts" / "gpu-timestamp" / "files" / "crd-alignmentrun.yaml"
DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"
_CEL = celpy.Environment()  # cel-python: the CEL the API server evaluates (no Kubernetes extensions used)


def _schema_file(name: str) -> Path:
    return next(folder / name for folder in SCHEMA_DIRS if (folder / name).exists())


@cache
def _registry() -> Registry:
    definitions = json.loads(_schema_file("_definitions.json").read_text())
    return Registry().with_resource(DEFINITIONS_URI, Resource.from_contents(definitions))


@cache
def _validator(kind_file: str) -> jsonschema.protocols.Validator:
    schema = json.loads(_schema_file(kind_file).read_text())
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def k8s_problems(obj: dict[str, Any], kind_file: str) -> list[str]:
    """Errors of `obj` against a Kubernetes 1.33 kind schema, e.g. "job-batch-v1.json"."""
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(kind_file).iter_errors(obj)
    ]


def load_crd(text: str | None = None) -> dict[str, Any]:
    return dict(yaml.safe_load(text if text is not None else CRD_FILE.read_text()))


def run_schema(crd: dict[str, Any] | None = None) -> dict[str, Any]:
    (version,) = (crd or load_crd())["spec"]["versions"]
    return dict(version["schema"]["openAPIV3Schema"])


def _strict_problems(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    problems = []
    if isinstance(value, dict) and schema.get("type") == "object" and where != "/metadata":
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                problems += _strict_problems(item, properties[key], f"{where}/{key}")
            elif isinstance(extra, dict):
                problems += _strict_problems(item, extra, f"{where}/{key}")
            elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                problems.append(f"{where}/{key}: unknown field")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        keys = schema.get("x-kubernetes-list-map-keys")
        if schema.get("x-kubernetes-list-type") == "map" and keys:
            seen = [tuple(entry.get(k) for k in keys) for entry in value if isinstance(entry, dict)]
            problems += [
                f"{where}: duplicate entries for key {k}" for k in sorted(set(seen)) if seen.count(k) > 1
            ]
        for index, item in enumerate(value):
            problems += _strict_problems(item, schema["items"], f"{where}/{index}")
    return problems


def crd_problems(obj: dict[str, Any], crd: dict[str, Any] | None = None) -> list[str]:
    """What the API server would refuse in an AlignmentRun (empty: accepted)."""
    schema = run_schema(crd)
    problems = [
        f"/{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft4Validator(schema).iter_errors(obj)
    ]
    return problems + _strict_problems(obj, schema, "")


def cel_problems(
    new: dict[str, Any], old: dict[str, Any] | None = None, crd: dict[str, Any] | None = None
) -> list[str]:
    """The CRD's CEL rules (x-kubernetes-validations) on a run, as the API server evaluates them: on
    an update (`old` given) transition rules compare each field with its old value where both exist."""
    return _cel(new, old, run_schema(crd), "")


def _cel(value: Any, old: Any, schema: dict[str, Any], where: str) -> list[str]:
    problems = []
    for rule in schema.get("x-kubernetes-validations") or ():
        transition = "oldSelf" in rule["rule"]
        if transition and old is None:
            continue  # transition rules apply to updates of a field that existed before
        program = _CEL.program(_CEL.compile(rule["rule"]))
        context = {"self": celpy.json_to_cel(value)}
        if transition:
            context["oldSelf"] = celpy.json_to_cel(old)
        if not bool(program.evaluate(context)):
            problems.append(f"{where or '/'}: {rule.get('message', rule['rule'])}")
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                before = old.get(key) if isinstance(old, dict) else None
                problems += _cel(value[key], before, sub, f"{where}/{key}")
    return problems

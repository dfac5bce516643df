"""Every scenario in charts/gpu-timestamp/ci lints cleanly and renders only objects the API server accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart.chart import (
    RELEASE,
    SCENARIOS,
    Helm,
    pod_template_problems,
    pod_templates,
    scenario_id,
    schema_problems,
)

pytestmark = pytest.mark.parametrize("scenario", SCENARIOS, ids=scenario_id)


def test_lint_strict(helm: Helm, scenario: Path) -> None:
    result = helm.lint(scenario)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_object_matches_its_schema(helm: Helm, scenario: Path) -> None:
    problems = {
        f"{obj['kind']}/{obj['metadata']['name']}": schema_problems(obj) for obj in helm.template(scenario)
    }
    assert {name: found for name, found in problems.items() if found} == {}


def test_every_pod_template_matches_its_schema(helm: Helm, scenario: Path) -> None:
    problems = {
        name: pod_template_problems(template) for name, template in pod_templates(helm.template(scenario))
    }
    assert {name: found for name, found in problems.items() if found} == {}


def test_every_object_has_the_standard_labels(helm: Helm, scenario: Path) -> None:
    # The AlignmentRun CRD is the operator's file (files/crd-alignmentrun.yaml), rendered verbatim.
    for obj in (o for o in helm.template(scenario) if o["kind"] != "CustomResourceDefinition"):
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/name") == "gpu-timestamp", obj["metadata"]["name"]
        assert labels.get("app.kubernetes.io/instance") == RELEASE, obj["metadata"]["name"]
        assert labels.get("app.kubernetes.io/managed-by") == "Helm", obj["metadata"]["name"]
        assert "app.kubernetes.io/version" in labels, obj["metadata"]["name"]
        assert "helm.sh/chart" in labels, obj["metadata"]["name"]


def test_trigger_metadata_values_are_strings(helm: Helm, scenario: Path) -> None:
    """Trigger metadata is a map of strings: the API server refuses an unquoted number or boolean."""
    for obj in helm.template(scenario):
        for trigger in obj["spec"].get("triggers", []) if obj["kind"] == "ScaledJob" else []:
            assert trigger["metadata"], trigger
            assert {k: v for k, v in trigger["metadata"].items() if not isinstance(v, str)} == {}


def test_pods_run_unprivileged_on_a_read_only_root(helm: Helm, scenario: Path) -> None:
    for name, template in pod_templates(helm.template(scenario)):
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            volumes = {v["name"]: v for v in spec["volumes"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: /tmp must be a writable emptyDir"

"""The chart's values against the worker's settings (one source of truth), and bad values refused readably."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.chart.chart import CHART, REPO, SCENARIOS, Helm, HelmError, only, scenario_id
from worker.settings import Settings

CI = CHART / "ci"
VALUES = CHART / "values.yaml"
SETTINGS = {name.upper() for name in Settings.model_fields}


def worker_env(objects: list[dict[str, Any]]) -> dict[str, str]:
    (config_map,) = [
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-worker-env")
    ]
    return dict(config_map["data"])


def test_values_have_exactly_the_worker_settings() -> None:
    """Fails when worker/settings.py gains a setting the chart lacks, or the chart names a non-setting."""
    keys = set(yaml.safe_load(VALUES.read_text())["worker"]["env"])
    assert sorted(SETTINGS - keys) == [], (
        "settings missing from worker.env in values.yaml (add each with a # -- line)"
    )
    assert sorted(keys - SETTINGS) == [], "worker.env keys that are no setting of worker/settings.py"


def test_values_schema_is_generated_from_the_settings() -> None:
    check = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "sync-chart-schema"), "--check"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


def test_values_schema_is_draft_07() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load(VALUES.read_text()))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=scenario_id)
def test_the_worker_accepts_the_rendered_env(
    helm: Helm, scenario: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = worker_env(helm.template(scenario))
    assert sorted(set(env) - SETTINGS) == []
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    Settings()  # raises what the worker would refuse at start-up


def test_every_setting_reaches_the_worker(helm: Helm, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each setting set in values arrives unchanged, numbers in a form pydantic reads (no "1e+06")."""
    defaults = Settings.model_construct().model_dump(mode="json")
    wanted = {name.upper(): value for name, value in defaults.items() if value is not None}
    wanted |= {"SQS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q", "MAX_MESSAGES": 1_000_000}
    wanted |= {"IDLE_TIMEOUT_SECONDS": 300.5}  # the chart refuses 0 (Jobs that never end)
    env = worker_env(
        helm.template(CI / "01-default-values.yaml", set_json=(f"worker.env={json.dumps(wanted)}",))
    )
    assert sorted(set(wanted) - set(env)) == []
    assert env["MAX_MESSAGES"] == "1000000"
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    parsed = Settings().model_dump(mode="json")
    assert {name: parsed[name.lower()] for name in wanted} == wanted


def test_null_leaves_the_workers_default(default_objects: list[dict[str, Any]]) -> None:
    env = worker_env(default_objects)
    assert "TOKEN_STEP" not in env and "WHISPER_MODEL" not in env


def _documentation(text: str) -> dict[str, bool]:
    """Each key path of a values file, and whether a `# --` comment stands right above it."""
    found: dict[str, bool] = {}
    stack: list[tuple[int, str]] = []
    commented = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            commented = True
            continue
        if stripped.startswith("#"):
            continue
        match = re.match(r"^( *)([^\s#:-][^:]*):(?:\s|$)", line)
        if not match:
            commented = False
            continue
        indent, key = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([*(k for _, k in stack), key])
        found[path] = commented
        stack.append((indent, key))
        commented = False
    return found


def test_every_value_is_documented() -> None:
    documented = _documentation(VALUES.read_text())
    groups = {path.rsplit(".", 1)[0] for path in documented if "." in path}
    missing = [
        path
        for path, own in documented.items()
        if not own
        and path not in groups  # a key that only groups others: its leaves are checked instead
        and not any(documented.get(".".join(path.split(".")[:i])) for i in range(1, path.count(".") + 1))
    ]
    assert missing == [], "values without a `# --` comment (on themselves or an enclosing key)"
    undocumented_settings = [p for p, own in documented.items() if p.startswith("worker.env.") and not own]
    assert undocumented_settings == []


def test_the_readme_lists_every_value() -> None:
    documented = {path for path, own in _documentation(VALUES.read_text()).items() if own}
    section = (CHART / "README.md").read_text().split("\n## Values\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([\w./-]+)` \|", section, flags=re.MULTILINE))
    assert sorted(documented - listed) == [], "values missing from the README's values table"
    assert sorted(listed - documented) == [], "README rows for values that do not exist"


BAD_VALUES = {
    # misspelled keys: pydantic-settings and Helm would both silently ignore them
    "misspelled-setting": (
        "worker: {env: {SQS_QUEUE_ULR: x}}",
        "additional properties 'SQS_QUEUE_ULR' not allowed",
    ),
    "misspelled-section": (
        "scaledjob: {maxReplicaCount: 3}",
        "additional properties 'scaledjob' not allowed",
    ),
    "misspelled-trigger-key": (
        "scaledJob: {trigger: {scaleOnInflight: false}}",
        "additional properties 'scaleOnInflight' not allowed",
    ),
    # wrong types
    "quoted-number": (
        'scaledJob: {maxReplicaCount: "2"}',
        "at '/scaledJob/maxReplicaCount': got string, want integer",
    ),
    "quoted-boolean": (
        'scaledJob: {trigger: {scaleOnInFlight: "true"}}',
        "at '/scaledJob/trigger/scaleOnInFlight': got string, want boolean",
    ),
    "unquoted-node-label": (
        "worker: {nodeSelector: {nvidia.com/gpu.present: true}}",
        "at '/worker/nodeSelector/nvidia.com~1gpu.present': got boolean, want string",
    ),
    # what the worker itself would refuse at start-up
    "unknown-device": ("worker: {env: {DEVICE: gpu}}", "at '/worker/env/DEVICE'"),
    "token-step-too-large": ("worker: {env: {TOKEN_STEP: 5000}}", "at '/worker/env/TOKEN_STEP'"),
    "language-not-a-code": ("worker: {env: {LANGUAGE: Hebrew}}", "at '/worker/env/LANGUAGE'"),
    "not-a-role-arn": ("serviceAccount: {roleArn: gpu-timestamp-worker}", "at '/serviceAccount/roleArn'"),
    "unknown-strategy": ("scaledJob: {scalingStrategy: fastest}", "at '/scaledJob/scalingStrategy'"),
    # impossible combinations (templates/validations.yaml)
    "no-queue": ('worker: {env: {SQS_QUEUE_URL: ""}}', "worker.env.SQS_QUEUE_URL is required"),
    "no-region": ("worker: {env: {AWS_REGION: null}}", "worker.env.AWS_REGION is required"),
    "no-gpu-on-cuda": ("worker: {gpu: {count: 0}}", "set worker.env.DEVICE=cpu"),
    "min-above-max": ("scaledJob: {minReplicaCount: 3}", "scaledJob.minReplicaCount (3) is above"),
    "accurate-counting-in-flight": (
        "scaledJob: {scalingStrategy: accurate}",
        "set scaledJob.trigger.scaleOnInFlight=false",
    ),
    "default-without-in-flight": (
        "scaledJob: {trigger: {scaleOnInFlight: false}}",
        "needs scaledJob.trigger.scaleOnInFlight=true",
    ),
    "role-and-owner": (
        "scaledJob: {authentication: {podIdentity: {roleArn: 'arn:aws:iam::123456789012:role/r', "
        "identityOwner: keda}}}",
        "set roleArn or identityOwner, not both",
    ),
    "workload-without-role": (
        "scaledJob: {authentication: {podIdentity: {identityOwner: workload}}}",
        "set serviceAccount.roleArn",
    ),
    "secret-without-name": (
        "scaledJob: {authentication: {type: secret}}",
        "needs scaledJob.authentication.secretName",
    ),
    "jobs-never-idle-out": (
        "worker: {env: {IDLE_TIMEOUT_SECONDS: 0}}",
        "worker.env.IDLE_TIMEOUT_SECONDS must be above 0",
    ),
    "no-shutdown-grace": (
        "worker: {env: {SHUTDOWN_GRACE_SECONDS: null}}",
        "SHUTDOWN_GRACE_SECONDS must be set",
    ),
    "existing-account-unnamed": ("serviceAccount: {create: false}", "needs serviceAccount.name"),
}


@pytest.mark.parametrize(("values", "message"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_bad_values_are_refused_readably(helm: Helm, tmp_path: Path, values: str, message: str) -> None:
    bad = tmp_path / "bad-values.yaml"
    bad.write_text(values + "\n")
    with pytest.raises(HelmError) as refused:
        helm.template(CI / "01-default-values.yaml", bad)
    assert message in str(refused.value)


def test_the_default_scenario_renders(default_objects: list[dict[str, Any]]) -> None:
    assert only(default_objects, "ScaledJob")

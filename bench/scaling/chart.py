"""The chart's scaling policy, read from what `helm template` renders (never from values.yaml by hand)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import yaml

from bench.scaling.keda import ScaledJobPolicy, Strategy, Trigger
from bench.scaling.sim import ChartPolicy
from worker.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "gpu-timestamp"
DEFAULT_VALUES = CHART / "ci" / "01-default-values.yaml"
KUBE_VERSION = "1.33.0"


def find_helm() -> str:
    """$HELM, then .tools/bin/helm, then helm on PATH; fetched into .tools/bin when none exists."""
    local = REPO / ".tools" / "bin" / "helm"
    for candidate in (os.environ.get("HELM"), str(local), shutil.which("helm")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    subprocess.run([str(REPO / "scripts" / "fetch-helm")], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return str(local)


def render(values: Sequence[Path] = (DEFAULT_VALUES,), set_json: Sequence[str] = ()) -> list[dict[str, Any]]:
    args = [find_helm(), "template", "dafyomi", str(CHART), "--kube-version", KUBE_VERSION]
    args += ["--api-versions", "keda.sh/v1alpha1"]  # as a cluster with KEDA serves (keda.requireCRDs)
    for path in values:
        args += ["-f", str(path)]
    for item in set_json:
        args += ["--set-json", item]
    rendered = subprocess.run(args, capture_output=True, text=True, check=True, cwd=REPO, timeout=60)
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def _env(objects: list[dict[str, Any]]) -> dict[str, str]:
    (config_map,) = [
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-worker-env")
    ]
    return dict(config_map["data"])


def policy(objects: list[dict[str, Any]], name: str = "chart") -> ChartPolicy:
    """The ScaledJob's decision inputs and the worker's drain settings, as rendered."""
    (scaled_job,) = [o for o in objects if o["kind"] == "ScaledJob"]
    spec = scaled_job["spec"]
    (trigger,) = spec["triggers"]
    metadata = trigger["metadata"]
    job = spec["jobTargetRef"]
    env = _env(objects)
    defaults = Settings.model_construct()
    rules = job.get("podFailurePolicy", {}).get("rules", [])
    fail_on_1 = any(
        r["action"] == "FailJob"
        and r.get("onExitCodes", {}).get("operator") == "In"
        and 1 in r["onExitCodes"]["values"]
        for r in rules
    )
    return ChartPolicy(
        scaled_job=ScaledJobPolicy(
            trigger=Trigger(
                queue_length=int(metadata.get("queueLength", 5)),
                activation_queue_length=int(metadata.get("activationQueueLength", 0)),
                scale_on_in_flight=metadata.get("scaleOnInFlight", "true") == "true",
                scale_on_delayed=metadata.get("scaleOnDelayed", "false") == "true",
            ),
            strategy=cast(Strategy, spec.get("scalingStrategy", {}).get("strategy", "default")),
            min_replicas=int(spec.get("minReplicaCount", 0)),
            max_replicas=int(spec.get("maxReplicaCount", 100)),
        ),
        polling_interval=int(spec.get("pollingInterval", 30)),
        max_messages=int(env.get("MAX_MESSAGES", defaults.max_messages)),
        idle_timeout=float(env.get("IDLE_TIMEOUT_SECONDS", defaults.idle_timeout_seconds)),
        shutdown_grace=float(env.get("SHUTDOWN_GRACE_SECONDS", defaults.shutdown_grace_seconds)),
        active_deadline=float(job.get("activeDeadlineSeconds", 10**9)),
        backoff_limit=int(job.get("backoffLimit", 6)),
        fail_job_on_exit_1=fail_on_1,
        rollout=spec.get("rollout", {}).get("strategy", "immediate"),
        visibility_timeout=float(env.get("VISIBILITY_TIMEOUT_SECONDS", defaults.visibility_timeout_seconds)),
        name=name,
    )

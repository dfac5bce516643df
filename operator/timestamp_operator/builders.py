"""Pure builders of the objects a run owns: its items ConfigMap and its Indexed Job.

No I/O and no Kubernetes client here: a handler calls these, then `kopf.adopt()`s the result and
creates it if absent. Names are deterministic, so a retried handler or a restarted operator finds
what it created before instead of creating it twice.

One run = one Indexed Job with one completion per item: pod I runs `timestamp batch` on item I (the
Job sets JOB_COMPLETION_INDEX). The Job's `completedIndexes` / `failedIndexes` are the per-item
outcomes, and a failed pod's termination message (the worker's last outcome JSON) is the reason.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import yaml

from timestamp_operator.spec import API_GROUP, AlignmentRunSpec, Item, Resources

WORKER_CONTAINER = "worker"
ITEMS_KEY = "items.json"
ITEMS_DIR = "/etc/alignment-run"
ITEMS_VOLUME = "alignment-run-items"
TERMINATION_LOG = "/dev/termination-log"

# The worker's batch-mode exit codes (its contract with this operator).
EXIT_PERMANENT = 1  # bad input: the item cannot succeed on retry -> fail this index only
EXIT_CONFIG = 2  # configuration error: every item would fail -> fail the whole Job at once
EXIT_TRANSIENT = 75  # worth retrying -> counted against backoffLimitPerIndex

RUN_LABEL = f"{API_GROUP}/run"
# sha256 of the items document, on the ConfigMap, the Job and the run's status: a lost ConfigMap is
# rebuilt only when what would be written again is exactly what the Job was started with.
ITEMS_DIGEST = f"{API_GROUP}/items-digest"
GPU_RESOURCE = "nvidia.com/gpu"
MANAGED_BY = ("app.kubernetes.io/managed-by", "timestamp-operator")
COMPONENT = ("app.kubernetes.io/component", "alignment-run")
# Set by the Job controller on every pod of an Indexed Job (label since 1.28, annotation before).
INDEX_KEY = "batch.kubernetes.io/job-completion-index"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"

MAX_ITEMS_BYTES = 1_000_000  # a ConfigMap holds 1 MiB in all: room for its metadata

# Indexed pods are named `<job>-<index>-<random>` and their hostname is `<job>-<index>`, a DNS
# label (63): 52 leaves room for a 4-digit index and the pod suffix.
MAX_CHILD_NAME = 52


class PodTemplateError(ValueError):
    """The worker pod template (rendered by the chart) is unusable."""


def load_pod_template(text: str) -> dict[str, Any]:
    """Parse and check the chart's worker Pod template: a mapping with `spec.containers[worker]`."""
    try:
        template = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PodTemplateError(f"not YAML: {error}") from error
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        raise PodTemplateError("expected a mapping with `metadata` and `spec` (a Pod template)")
    containers = template["spec"].get("containers")
    names = [c.get("name") for c in containers] if isinstance(containers, list) else []
    if names.count(WORKER_CONTAINER) != 1 or not all(isinstance(c, dict) for c in containers or ()):
        raise PodTemplateError(f"spec.containers must hold exactly one container named {WORKER_CONTAINER!r}")
    return template


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def child_name(run_name: str, suffix: str) -> str:
    """`<run>-<suffix>`, made a DNS label that fits an Indexed Job's pod hostnames.

    A run name that had to be shortened or changed (dots) gets a hash of the original, so two
    runs never share a child name.
    """
    label = run_name.replace(".", "-")
    plain = f"{label}-{suffix}"
    if label == run_name and len(plain) <= MAX_CHILD_NAME:
        return plain
    room = MAX_CHILD_NAME - len(suffix) - 10
    return f"{label[:room].rstrip('-')}-{_short_hash(run_name)}-{suffix}"


def label_value(run_name: str) -> str:
    """The run's name as a label value (63 characters at most)."""
    if len(run_name) <= 63:
        return run_name
    return f"{run_name[:54].rstrip('-.')}-{_short_hash(run_name)}"


def job_name(run_name: str) -> str:
    return child_name(run_name, "align")


def configmap_name(run_name: str) -> str:
    return child_name(run_name, "items")


def child_labels(run_name: str) -> dict[str, str]:
    return {RUN_LABEL: label_value(run_name), MANAGED_BY[0]: MANAGED_BY[1], COMPONENT[0]: COMPONENT[1]}


class TooManyItems(ValueError):
    """The item list does not fit in a ConfigMap."""


def items_document(items: list[Item]) -> str:
    """The worker's ITEMS_FILE: `{"items": [{"audio_key", "text_key"}, ...]}`, one item a line."""
    lines = [
        json.dumps({"audio_key": i.audio_key, "text_key": i.text_key}, ensure_ascii=False) for i in items
    ]
    document = '{"items": [\n' + ",\n".join(lines) + "\n]}\n"
    if len(document.encode()) > MAX_ITEMS_BYTES:
        raise TooManyItems(
            f"the list of {len(items)} items takes {len(document.encode())} bytes, more than a ConfigMap "
            f"holds ({MAX_ITEMS_BYTES}); split the run"
        )
    return document


def items_digest(document: str) -> str:
    return "sha256:" + hashlib.sha256(document.encode()).hexdigest()


def parse_items_document(text: str) -> list[Item]:
    return [Item.model_validate(entry) for entry in json.loads(text)["items"]]


def build_items_configmap(run_name: str, items: list[Item]) -> dict[str, Any]:
    """The resolved item list, recorded once: a restarted operator reads it back, never re-resolves."""
    document = items_document(items)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": configmap_name(run_name),
            "labels": child_labels(run_name),
            "annotations": {ITEMS_DIGEST: items_digest(document)},
        },
        "immutable": True,
        "data": {ITEMS_KEY: document},
    }


def _with_env(env: list[dict[str, Any]], overrides: dict[str, str]) -> list[dict[str, Any]]:
    kept = [entry for entry in env if entry.get("name") not in overrides]
    return kept + [{"name": name, "value": value} for name, value in overrides.items()]


def _with_resources(base: dict[str, Any], overrides: Resources | None) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    if overrides is not None:
        for part in ("requests", "limits"):
            values = getattr(overrides, part)
            if values:
                merged[part] = {**merged.get(part, {}), **values}
    return merged


def _replace_named(entries: list[dict[str, Any]], new: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry for entry in entries if entry.get("name") != new["name"]] + [new]


def worker_container(pod_spec: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in pod_spec["containers"] if c.get("name") == WORKER_CONTAINER)


@dataclass(frozen=True)
class JobLimits:
    """How long a run's pods and Job may take and stay (operator settings)."""

    backoff_limit_per_index: int
    item_deadline_seconds: int  # one pod (one item): a hung worker releases its GPU
    run_deadline_seconds: int  # the whole Job
    ttl_seconds_after_finished: int  # then the TTL controller deletes the finished Job and its pods


def build_job(
    run_name: str,
    spec: AlignmentRunSpec,
    digest: str,
    total: int,
    pod_template: dict[str, Any],
    limits: JobLimits,
) -> dict[str, Any]:
    """The run's Indexed Job: the chart's worker pod, in batch mode, over the run's items."""
    template = copy.deepcopy(pod_template)
    labels = child_labels(run_name)
    metadata = template.setdefault("metadata", {})
    # The pods keep the chart's labels (selectors, policies) and gain the run's.
    metadata["labels"] = {**(metadata.get("labels") or {}), RUN_LABEL: labels[RUN_LABEL]}

    pod_spec = template["spec"]
    pod_spec["restartPolicy"] = "Never"  # required by podFailurePolicy; retries are new pods
    pod_spec["activeDeadlineSeconds"] = limits.item_deadline_seconds
    pod_spec["volumes"] = _replace_named(
        pod_spec.get("volumes") or [],
        {"name": ITEMS_VOLUME, "configMap": {"name": configmap_name(run_name)}},
    )
    container = worker_container(pod_spec)
    container["command"] = [
        "timestamp",
        "batch",
        f"{ITEMS_DIR}/{ITEMS_KEY}",
        "--outcome-file",
        TERMINATION_LOG,
    ]
    container.pop("args", None)
    container["env"] = _with_env(container.get("env") or [], spec.overrides.worker_env())
    container["resources"] = _with_resources(container.get("resources") or {}, spec.overrides.resources)
    container["volumeMounts"] = _replace_named(
        container.get("volumeMounts") or [], {"name": ITEMS_VOLUME, "mountPath": ITEMS_DIR, "readOnly": True}
    )
    container["terminationMessagePath"] = TERMINATION_LOG
    # A worker that dies before writing its outcome (OOM, a crash) still leaves its last log lines.
    container["terminationMessagePolicy"] = "FallbackToLogsOnError"

    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(run_name),
            "labels": labels,
            "annotations": {ITEMS_DIGEST: digest},
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": total,
            "parallelism": min(spec.parallelism, total),
            "backoffLimitPerIndex": limits.backoff_limit_per_index,
            "activeDeadlineSeconds": limits.run_deadline_seconds,
            "ttlSecondsAfterFinished": limits.ttl_seconds_after_finished,
            "suspend": spec.suspend,
            "podFailurePolicy": {
                "rules": [
                    {"action": "FailJob", "onExitCodes": _exit_codes(EXIT_CONFIG)},
                    {"action": "FailIndex", "onExitCodes": _exit_codes(EXIT_PERMANENT)},
                    # Evicted or preempted (spot GPU nodes, drains): retry without counting it.
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                ]
            },
            "template": template,
        },
    }


def _exit_codes(code: int) -> dict[str, Any]:
    return {"containerName": WORKER_CONTAINER, "operator": "In", "values": [code]}


def job_spec_changes(job: dict[str, Any], spec: AlignmentRunSpec) -> dict[str, Any]:
    """The Job fields a spec edit may change once the Job exists (suspend, parallelism), if they differ."""
    current = job.get("spec", {})
    wanted = {"suspend": spec.suspend, "parallelism": min(spec.parallelism, current.get("completions", 1))}
    return {field: value for field, value in wanted.items() if current.get(field) != value}


def gpus_per_pod(pod_spec: dict[str, Any]) -> int:
    """GPUs one pod takes: the containers' `nvidia.com/gpu` limits (requests where no limit is set)."""
    total = 0
    for container in pod_spec.get("containers") or ():
        resources = container.get("resources") or {}
        value = (resources.get("limits") or {}).get(
            GPU_RESOURCE, (resources.get("requests") or {}).get(GPU_RESOURCE)
        )
        total += int(value or 0)
    return total


def job_gpus(job: dict[str, Any]) -> int:
    """GPUs a Job holds or may take (parallelism x per pod) until it finishes; suspended ones keep
    their share reserved, so resuming never exceeds the cap."""
    conditions = (job.get("status") or {}).get("conditions") or ()
    if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions):
        return 0
    spec = job.get("spec") or {}
    return int(spec.get("parallelism") or 0) * gpus_per_pod(spec.get("template", {}).get("spec") or {})

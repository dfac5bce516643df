"""Every setting of the operator, in one place, read from environment variables.

The text bucket and the audio key template default to the worker's own defaults (one source of
truth: `worker.settings`), because a selection is resolved here exactly as the worker resolves an
S3 event. AWS_REGION / AWS_ENDPOINT_URL / credentials are read by boto3 itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.settings import Settings as WorkerSettings

_WORKER = WorkerSettings.model_fields


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # The namespace holding the worker's ServiceAccount and env ConfigMap (the chart's release
    # namespace): runs elsewhere would get pods without them, so they are refused. Unset: any.
    worker_namespace: str | None = None
    # A YAML Pod template (metadata + spec with one container named `worker`) rendered by the chart.
    worker_pod_template: Path = Path("/etc/timestamp-operator/pod-template.yaml")
    # Where selections are listed, and how an audio key is derived from a text key.
    text_bucket: str = Field(_WORKER["text_bucket"].default, min_length=3)
    audio_key_template: str = Field(_WORKER["audio_key_template"].default, min_length=1)
    # Pod retries per item for transient failures (exit 75, OOM, eviction is not counted).
    backoff_limit_per_index: Annotated[int, Field(ge=0, le=10)] = 2
    # How many failed items (with reasons) a run's status lists; the counts are always complete.
    max_failed_items: Annotated[int, Field(ge=1, le=500)] = 50
    # A launch waiting on S3, the API, free GPUs or an earlier run's leftovers tries again after
    # this many seconds, doubling each time up to the maximum.
    retry_delay_seconds: Annotated[float, Field(gt=0, le=600)] = 15
    retry_max_delay_seconds: Annotated[float, Field(gt=0, le=3600)] = 600
    # GPUs all AlignmentRuns' Jobs may hold at once (parallelism x GPUs per pod, suspended runs
    # included): a run that would exceed it waits. The queue worker's ScaledJob is capped apart.
    max_gpus: Annotated[int, Field(ge=1, le=1024)] = 2
    # GPUs one pod may ask for through spec.overrides.resources (nvidia.com/gpu).
    max_gpus_per_pod: Annotated[int, Field(ge=0, le=8)] = 1
    # One item's pod is stopped after this long (activeDeadlineSeconds; retried as a failure).
    item_deadline_seconds: Annotated[int, Field(ge=60)] = 2 * 3600
    # The whole Job is stopped after this long (its unfinished items fail).
    run_deadline_seconds: Annotated[int, Field(ge=60)] = 7 * 24 * 3600
    # A finished Job and its pods are deleted this long after the run's status recorded the outcome.
    finished_job_ttl_seconds: Annotated[int, Field(ge=0)] = 7 * 24 * 3600
    # Unfinished runs are re-read from their Job this often, even when no Job event arrives.
    resync_seconds: Annotated[float, Field(gt=0, le=3600)] = 60

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
    # Seconds before a launch waiting on S3, the API or an earlier run's leftovers tries again.
    retry_delay_seconds: Annotated[float, Field(gt=0, le=600)] = 15

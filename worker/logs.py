"""Logging: plain lines or one JSON object per line, the message/job in context, per-job metrics.

LOG_FORMAT=json writes each record as a JSON object (python-json-logger) with the fields of the
message and job being handled (message_id, receive_count, job id, keys) and whatever the call gave
as `extra` (phase, durations, outcome), for CloudWatch Logs Insights or Loki. The per-job metrics
line is also in CloudWatch embedded metric format (EMF): CloudWatch turns it into metrics by itself.

The AWS libraries log credentials, web-identity tokens and message bodies at DEBUG, so they are
kept at INFO or above whatever LOG_LEVEL says.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from worker.settings import LogFormat, Settings

# Loggers that may print secrets or bodies at DEBUG: never below INFO.
QUIET_LIBRARIES = ("botocore", "boto3", "urllib3", "s3transfer", "aiobotocore", "httpx", "httpcore")
METRICS_NAMESPACE = "gpu-timestamp"
_log = logging.getLogger("worker.job")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_context: ContextVar[dict[str, Any]] = ContextVar("log_context", default={})  # noqa: B039 (never mutated)


class _ContextFilter(logging.Filter):
    """Adds the current message's and job's fields to every record (without overriding `extra`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class _JsonLines(JsonFormatter):
    """python-json-logger's formatter; the EMF block goes out under its required name `_aws`
    (the library leaves out `extra` keys that start with an underscore)."""

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        if (emf := log_data.pop("emf", None)) is not None:
            log_data["_aws"] = emf


def setup(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format is LogFormat.JSON:
        handler.setFormatter(
            _JsonLines(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                json_ensure_ascii=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT))
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))


@contextmanager
def _with(**fields: Any) -> Iterator[None]:
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def message_context(message_id: str, receive_count: int) -> Any:
    """Log records inside carry the SQS message they are about."""
    return _with(message_id=message_id, receive_count=receive_count)


def job_context(job_id: str | None, audio_key: str, text_key: str) -> Any:
    """Log records inside carry the job they are about."""
    return _with(job_id=job_id, audio_key=audio_key, text_key=text_key)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Logs how long a phase of a job took (also when it fails: the failure says where)."""
    started = time.monotonic()
    failed = True
    try:
        yield
        failed = False
    finally:
        took = round(time.monotonic() - started, 3)
        _log.info(
            "%s %s after %.1f s",
            name,
            "failed" if failed else "done",
            took,
            extra={"phase": name, "phase_seconds": took, "phase_failed": failed},
        )


def job_metrics(outcome: str, job_seconds: float, audio_seconds: float | None = None) -> dict[str, Any]:
    """`extra` for the line that ends a job: its metrics, in CloudWatch embedded metric format."""
    metrics: dict[str, Any] = {"job_seconds": round(job_seconds, 3)}
    units = {"job_seconds": "Seconds"}
    if audio_seconds:
        metrics["audio_seconds"] = round(audio_seconds, 3)
        metrics["real_time_factor"] = round(job_seconds / audio_seconds, 4)
        units |= {"audio_seconds": "Seconds", "real_time_factor": "None"}
    return {
        "outcome": outcome,
        **metrics,
        "emf": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [["outcome"]],
                    "Metrics": [{"Name": name, "Unit": unit} for name, unit in units.items()],
                }
            ],
        },
    }

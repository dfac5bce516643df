"""The message contract: what a work message may say, which keys a job writes, what the notice says.

Work messages (SQS body), any of:
- `{"audio_key": "...", "text_key": "...", "id": "optional", "language": "optional ISO code"}`;
- an S3 `ObjectCreated:*` event notification for the text bucket (one job per record), the audio key
  derived from the text key by `AUDIO_KEY_TEMPLATE`;
- the same S3 event wrapped in an SNS notification (raw message delivery off).
S3's `s3:TestEvent` (sent when a notification is configured) is recognised and dropped, and so are
event records for keys without one of TEXT_KEY_SUFFIXES (the worker's own outputs, other files).
Keys are at most 1024 UTF-8 bytes without control characters, the id at most 256 characters
(worker.inputs.keys); a body nested deeper than worker.inputs.jsondoc allows is refused unparsed.
"""

from __future__ import annotations

import logging
import posixpath
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from worker.inputs.jsondoc import JsonError, load_json
from worker.inputs.keys import check_id, check_key
from worker.settings import Settings

log = logging.getLogger(__name__)


class MessageError(ValueError):
    """The message body is not one of the accepted shapes (permanent: retrying cannot help)."""


class OutputKeyConflict(ValueError):
    """An output key would overwrite an input (the corrected text is never overwritten)."""


class AlignmentJob(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    audio_key: str = Field(min_length=1)
    text_key: str = Field(min_length=1)
    id: str | None = None
    language: str | None = Field(None, pattern=r"^[a-z]{2,3}$")

    @field_validator("audio_key", "text_key")
    @classmethod
    def _usable_key(cls, key: str) -> str:
        check_key(key, "key")
        return key

    @field_validator("id")
    @classmethod
    def _usable_id(cls, value: str | None) -> str | None:
        if value is not None:
            check_id(value)
        return value


class OutputKeys(BaseModel):
    vtt_key: str
    json_key: str


class CompletionNotice(BaseModel):
    """Posted to SQS_FINAL_QUEUE_URL after each job (and printed by batch mode)."""

    status: Literal["succeeded", "failed"]
    audio_key: str | None
    text_key: str | None
    vtt_key: str | None = None
    json_key: str | None = None
    output_bucket: str | None = None
    id: str | None = None
    error: str | None = None
    # "permanent" (bad input: fix the input, then send the message again) or "transient".
    error_kind: Literal["permanent", "transient"] | None = None
    quality: dict[str, Any] | None = None
    attempt: int | None = None  # SQS ApproximateReceiveCount, when from the queue
    finished_at: str = Field(default_factory=lambda: now())


def now() -> str:
    """A notice's `finished_at`: set again when the job really ends (see JobRunner)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def derive_audio_key(text_key: str, template: str) -> str:
    """The audio key for a text key: {stem} = key without extension, {name} = its last part, {dir}."""
    stem = posixpath.splitext(text_key)[0]
    folder, name = posixpath.split(stem)
    try:
        return template.format(stem=stem, name=name, dir=f"{folder}/" if folder else "")
    except (KeyError, IndexError, ValueError) as error:
        raise MessageError(f"AUDIO_KEY_TEMPLATE {template!r} is invalid: {error}") from error


def output_keys(job: AlignmentJob, settings: Settings) -> OutputKeys:
    stem = settings.output_prefix + posixpath.splitext(job.text_key)[0]
    keys = OutputKeys(vtt_key=f"{stem}.vtt", json_key=f"{stem}.json")
    for name in ("vtt", *settings.formats):  # every key the job will write: refused before aligning
        check_key(f"{stem}.{name}", "output key")
    inputs = {(settings.text_bucket, job.text_key), (settings.audio_bucket, job.audio_key)}
    for key in (keys.vtt_key, keys.json_key):
        if (settings.output_bucket, key) in inputs:
            raise OutputKeyConflict(
                f"output s3://{settings.output_bucket}/{key} would overwrite an input; refused"
            )
    return keys


def parse_message(body: str, settings: Settings) -> list[AlignmentJob]:
    """The jobs a message asks for (empty for S3 test events), or raise MessageError."""
    try:
        document = load_json(body, "message body")
    except JsonError as error:
        raise MessageError(str(error)) from error
    if not isinstance(document, dict):
        raise MessageError(f"message body is JSON {type(document).__name__}, expected an object")
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str):
        return parse_message(document["Message"], settings)  # SNS envelope
    if document.get("Event") == "s3:TestEvent":
        return []
    if "Records" in document:
        return _jobs_from_s3_event(document["Records"], settings)
    try:
        return [AlignmentJob.model_validate(document)]
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise MessageError(f"message field {field!r}: {_reason(first['msg'])}") from error


def _jobs_from_s3_event(records: Any, settings: Settings) -> list[AlignmentJob]:
    if not isinstance(records, list) or not records:
        raise MessageError("S3 event has no Records")
    jobs = []
    for record in records:
        try:
            event = record["eventName"]
            bucket = record["s3"]["bucket"]["name"]
            key = unquote_plus(record["s3"]["object"]["key"])  # S3 events URL-encode keys
        except (KeyError, TypeError) as error:
            raise MessageError(f"S3 event record lacks {error}") from error
        if not str(event).startswith("ObjectCreated:"):
            raise MessageError(f"S3 event {event!r} is not ObjectCreated")
        if bucket != settings.text_bucket:
            raise MessageError(
                f"S3 event for bucket {bucket!r}, expected TEXT_BUCKET {settings.text_bucket!r}"
            )
        if settings.text_suffixes and not key.endswith(settings.text_suffixes):
            log.info("S3 event for %.200r skipped: not a text key (TEXT_KEY_SUFFIXES)", key)
            continue
        audio_key = derive_audio_key(key, settings.audio_key_template)
        try:
            jobs.append(AlignmentJob(audio_key=audio_key, text_key=key))
        except ValidationError as error:
            raise MessageError(f"S3 event record: {_reason(error.errors()[0]['msg'])}") from error
    return jobs


def _reason(message: str) -> str:
    """pydantic's message for a failed check, without its "Value error, " prefix."""
    return message.removeprefix("Value error, ")

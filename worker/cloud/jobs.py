"""One job end to end: fetch the inputs, align, publish the outputs, describe the outcome.

Used alike by the queue loop and the operator's batch mode. Outputs have deterministic keys, so
doing a job twice rewrites the same objects. The VTT is written first and the JSON last: the JSON
names the VTT's SHA-256, so a pair is complete only when the JSON's `source.vtt_sha256` matches
the VTT beside it (a crash between the two writes cannot pass for a finished pair).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from worker.cloud.messages import AlignmentJob, CompletionNotice, OutputKeyConflict, output_keys
from worker.cloud.storage import MissingObject, Storage, StorageRefused, TransientError, check_key
from worker.engine.alignment import Aligner, AlignmentFailed
from worker.inputs.audio import AudioError, load_audio
from worker.inputs.text import TranscriptError, decode_transcript
from worker.logs import job_context, job_metrics, phase
from worker.publish.outputs import render
from worker.settings import Settings

log = logging.getLogger(__name__)

# Failures that retrying the same input cannot fix.
PERMANENT_ERRORS = (
    AlignmentFailed,
    AudioError,
    MissingObject,
    OutputKeyConflict,
    StorageRefused,
    TranscriptError,
)
# Unexpected exceptions (engine bugs) fail the job instead of the process. Most are deterministic
# for the input (a RecursionError, an AttributeError deep in stable-ts): retrying a lecture on a
# GPU three times to learn that again is waste, so they are permanent and the message goes to the
# dead-letter queue, to be redriven once fixed. Running out of memory or disk, or a CUDA
# out-of-memory error, depends on the node and the moment: those are retried later.
_RESOURCE_ERRORS = (MemoryError, OSError)
_RESOURCE_ERROR_NAMES = {"OutOfMemoryError"}  # torch.cuda.OutOfMemoryError, without importing torch


class Cancelled(Exception):
    """The job was stopped (shutdown grace expired) before publishing anything."""


@dataclass
class Outcome:
    notice: CompletionNotice

    @property
    def transient(self) -> bool:
        """A failure worth retrying later."""
        return self.notice.error_kind == "transient"


class JobRunner:
    def __init__(self, settings: Settings, aligner: Aligner, storage: Storage) -> None:
        self._settings, self._aligner, self._storage = settings, aligner, storage

    def run(self, job: AlignmentJob, cancel: threading.Event | None = None) -> Outcome:
        """Never raises but Cancelled: the outcome says what happened. Ends with the job's metrics line."""
        with job_context(job.id, job.audio_key, job.text_key):
            started = time.monotonic()
            try:
                outcome = self._run(job, cancel or threading.Event())
            except Cancelled:
                log.info(
                    "job %s released", job.text_key, extra=job_metrics("released", time.monotonic() - started)
                )
                raise
            notice = outcome.notice
            result = notice.status if notice.status == "succeeded" else f"failed {notice.error_kind}"
            audio_seconds = (notice.quality or {}).get("audio_seconds")
            log.info(
                "job %s %s",
                job.text_key,
                result,
                extra=job_metrics(result, time.monotonic() - started, audio_seconds),
            )
            return outcome

    def _run(self, job: AlignmentJob, cancel: threading.Event) -> Outcome:
        try:
            keys = output_keys(job, self._settings)
            for key in (keys.vtt_key, keys.json_key):
                check_key(self._settings.output_bucket, key)
        except (OutputKeyConflict, StorageRefused) as error:
            return self._failed(job, error, transient=False)
        base = CompletionNotice(
            status="succeeded",
            audio_key=job.audio_key,
            text_key=job.text_key,
            id=job.id,
            vtt_key=keys.vtt_key,
            json_key=keys.json_key,
            output_bucket=self._settings.output_bucket,
        )
        try:
            quality = self._align_and_publish(job, keys.vtt_key, keys.json_key, cancel)
        except PERMANENT_ERRORS as error:
            return self._failed(job, error, transient=False, base=base)
        except TransientError as error:
            return self._failed(job, error, transient=True, base=base)
        except Cancelled:
            raise
        except Exception as error:
            log.exception("job %s: unexpected %s", job.text_key, type(error).__name__)
            resource = isinstance(error, _RESOURCE_ERRORS) or type(error).__name__ in _RESOURCE_ERROR_NAMES
            first_line = next(iter(str(error).strip().splitlines()), "")
            internal = RuntimeError(f"internal error: {type(error).__name__}: {first_line}")
            return self._failed(job, internal, transient=resource, base=base)
        return Outcome(base.model_copy(update={"quality": quality}))

    def _align_and_publish(
        self, job: AlignmentJob, vtt_key: str, json_key: str, cancel: threading.Event
    ) -> dict[str, Any]:
        settings = self._settings
        with phase("read text"):
            text = decode_transcript(
                self._storage.read(settings.text_bucket, job.text_key),
                f"s3://{settings.text_bucket}/{job.text_key}",
            )
        with tempfile.TemporaryDirectory(prefix="align-", dir=settings.scratch_dir) as scratch:
            with phase("download audio"):
                audio_path = self._storage.download(
                    settings.audio_bucket, job.audio_key, Path(scratch) / "audio"
                )
            with phase("decode audio"):
                audio = load_audio(audio_path, f"s3://{settings.audio_bucket}/{job.audio_key}")
            log.info("aligning %s with %s (%d chars)", job.audio_key, job.text_key, len(text))

            def stop_if_cancelled(done: float, total: float) -> None:
                if cancel.is_set():
                    raise Cancelled(f"stopped at {done:.0f}/{total:.0f} s")

            options = self._aligner.defaults
            if job.language:
                options = replace(options, language=job.language)
            with phase("align"):
                alignment = self._aligner.align(audio, text, options, progress=stop_if_cancelled)
        rendered = render(alignment, text, {"audio_key": job.audio_key, "text_key": job.text_key})
        if cancel.is_set():
            raise Cancelled("stopped before publishing")
        metadata = {"text-sha256": rendered.json_document["source"]["text_sha256"]}
        with phase("publish"):
            self._storage.write(
                settings.output_bucket, vtt_key, rendered.vtt.encode(), "text/vtt; charset=utf-8", metadata
            )
            self._storage.write(
                settings.output_bucket,
                json_key,
                rendered.json.encode(),
                "application/json; charset=utf-8",
                metadata,
            )
        log.info(
            "published s3://%s/%s and .json (%d words)", settings.output_bucket, vtt_key, len(alignment.words)
        )
        return rendered.json_document["quality"]  # type: ignore[no-any-return]

    def _failed(
        self, job: AlignmentJob, error: Exception, *, transient: bool, base: CompletionNotice | None = None
    ) -> Outcome:
        kind = "transient" if transient else "permanent"
        log.error("job %s failed (%s): %s", job.text_key, kind, error)
        base = base or CompletionNotice(
            status="failed", audio_key=job.audio_key, text_key=job.text_key, id=job.id
        )
        notice = base.model_copy(update={"status": "failed", "error": str(error), "error_kind": kind})
        return Outcome(notice)

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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from worker.cloud.messages import AlignmentJob, CompletionNotice, OutputKeyConflict, output_keys
from worker.cloud.storage import MissingObject, Storage, TransientError
from worker.engine.alignment import Aligner, AlignmentFailed
from worker.inputs.audio import AudioError, load_audio
from worker.inputs.text import TranscriptError, decode_transcript
from worker.publish.outputs import render
from worker.publish.verdict import ReviewFailed, check_publishable
from worker.settings import Settings

log = logging.getLogger(__name__)

# Failures that retrying the same input cannot fix.
PERMANENT_ERRORS = (
    AlignmentFailed,
    AudioError,
    MissingObject,
    OutputKeyConflict,
    ReviewFailed,
    TranscriptError,
)


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
        """Never raises for a bad input or AWS trouble: the outcome says what happened."""
        cancel = cancel or threading.Event()
        try:
            keys = output_keys(job, self._settings)
        except OutputKeyConflict as error:
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
        return Outcome(base.model_copy(update={"quality": quality}))

    def _align_and_publish(
        self, job: AlignmentJob, vtt_key: str, json_key: str, cancel: threading.Event
    ) -> dict[str, Any]:
        settings = self._settings
        text = decode_transcript(
            self._storage.read(settings.text_bucket, job.text_key),
            f"s3://{settings.text_bucket}/{job.text_key}",
        )
        with tempfile.TemporaryDirectory(prefix="align-", dir=settings.scratch_dir) as scratch:
            audio_path = self._storage.download(settings.audio_bucket, job.audio_key, Path(scratch) / "audio")
            audio = load_audio(audio_path, f"s3://{settings.audio_bucket}/{job.audio_key}")
            log.info("aligning %s with %s (%d chars)", job.audio_key, job.text_key, len(text))

            def stop_if_cancelled(done: float, total: float) -> None:
                if cancel.is_set():
                    raise Cancelled(f"stopped at {done:.0f}/{total:.0f} s")

            options = self._aligner.defaults
            if job.language:
                options = replace(options, language=job.language)
            alignment = self._aligner.align(audio, text, options, progress=stop_if_cancelled)
        rendered = render(alignment, text, {"audio_key": job.audio_key, "text_key": job.text_key})
        check_publishable(rendered.json_document["quality"])  # a `failed` verdict publishes nothing
        if cancel.is_set():
            raise Cancelled("stopped before publishing")
        metadata = {"text-sha256": rendered.json_document["source"]["text_sha256"]}
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
        update: dict[str, Any] = {"status": "failed", "error": str(error), "error_kind": kind}
        if isinstance(error, ReviewFailed):
            update["quality"] = error.quality  # the verdict and where it looked
        notice = base.model_copy(update=update)
        return Outcome(notice)

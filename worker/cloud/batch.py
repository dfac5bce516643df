"""Batch mode: align given items without a work queue (the AlignmentRun operator's Jobs run this).

Items file: `{"items": [{"audio_key": "...", "text_key": "..."}, ...]}`. With an index (`--index`
or `JOB_COMPLETION_INDEX`, set by an Indexed Job) only that item runs; otherwise all, in order.
Each outcome is printed as one JSON line (the completion notice) and the last one is also written to
the outcome file (default /dev/termination-log: it becomes the pod's termination message).
Exit status: 0 all succeeded, 1 a permanent failure, 75 a transient failure (a retry may help).
With PREFETCH, an item's inputs are downloaded and decoded one item ahead (`Ahead`): the first
while the model loads (every pod of an Indexed Job pays that load), each next one while the
current item aligns.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, ValidationError

from worker.cloud.messages import AlignmentJob, CompletionNotice

if TYPE_CHECKING:  # the engine's imports wait until the items file has been read
    from worker.cloud.jobs import Fetcher, Inputs, JobRunner
    from worker.cloud.queue import Notifier

EXIT_PERMANENT = 1
EXIT_TRANSIENT = 75  # EX_TEMPFAIL
TERMINATION_LOG = Path("/dev/termination-log")
TERMINATION_MESSAGE_LIMIT = 4096  # bytes Kubernetes keeps of a termination message


class BatchItems(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[AlignmentJob]


class BatchError(ValueError):
    """The items file or index is unusable."""


def read_items(path: Path, index: int | None) -> list[AlignmentJob]:
    try:
        items = BatchItems.model_validate_json(path.read_bytes()).items
    except OSError as error:
        raise BatchError(f"items file {path}: {error.strerror}") from error
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BatchError(f"items file {path}: {where}: {first['msg']}") from error
    if index is None:
        return items
    if not 0 <= index < len(items):
        raise BatchError(f"index {index} is out of range: {path} has {len(items)} item(s)")
    return [items[index]]


def default_index() -> int | None:
    raw = os.environ.get("JOB_COMPLETION_INDEX")
    if raw is None:
        return None
    if not raw.isdigit():
        raise BatchError(f"JOB_COMPLETION_INDEX must be a number, got {raw!r}")
    return int(raw)


class Ahead:
    """Items' inputs fetched in a thread of their own, at most one item ahead of the one aligning
    (a decoded 60-minute lecture is ~230 MB). Whatever goes wrong ahead is met again at the item's
    turn (`Fetcher.prepare`), so each item's fate is the one it would have had without this."""

    def __init__(self, fetcher: Fetcher, jobs: list[AlignmentJob]) -> None:
        self._fetcher, self._jobs = fetcher, jobs
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="batch-prefetch")
        self._pending: dict[int, Future[Inputs | None]] = {}

    def fetch(self, index: int) -> None:
        if index < len(self._jobs) and not self._stop.is_set():
            self._pending[index] = self._pool.submit(self._fetcher.prepare, self._jobs[index], self._stop)

    def take(self, index: int) -> Inputs | None:
        """Item `index`'s inputs if they were fetched ahead (waits for a fetch under way), else None."""
        pending = self._pending.pop(index, None)
        return pending.result() if pending is not None else None

    def close(self) -> None:
        self._stop.set()  # a decode under way stops at its next check
        self._pool.shutdown(wait=True)


def run_batch(
    jobs: list[AlignmentJob],
    runner: JobRunner,
    notifier: Notifier,
    outcome_file: Path | None,
    ahead: Ahead | None = None,
) -> int:
    status = 0
    notice: CompletionNotice | None = None
    for index, job in enumerate(jobs):
        inputs = ahead.take(index) if ahead is not None else None
        if ahead is not None:
            ahead.fetch(index + 1)
        outcome = runner.run(job, inputs=inputs)
        notice = outcome.notice
        line = notice.model_dump_json()
        print(line, flush=True)
        notifier.send(line)
        if notice.status == "failed":
            status = max(status, EXIT_TRANSIENT if outcome.transient else EXIT_PERMANENT)
    if notice is not None and outcome_file is not None:
        _write_outcome(outcome_file, notice)
    return status


def _write_outcome(path: Path, notice: CompletionNotice) -> None:
    body = notice.model_dump(exclude_none=True)
    text = json.dumps(body, ensure_ascii=False)
    if len(text.encode()) > TERMINATION_MESSAGE_LIMIT:
        body.pop("quality", None)
        body["error"] = (body.get("error") or "")[:1000] or None
        text = json.dumps({k: v for k, v in body.items() if v is not None}, ensure_ascii=False)
    try:
        path.write_text(text)
    except OSError as error:
        print(f"timestamp: cannot write outcome to {path}: {error.strerror}", file=sys.stderr)


def default_outcome_file() -> Path | None:
    return TERMINATION_LOG if os.access(TERMINATION_LOG, os.W_OK) else None

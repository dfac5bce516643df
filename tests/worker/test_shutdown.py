"""SIGTERM against the real `timestamp` process: the heartbeat holds the message; shutdown lets it go."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cloud
from tests.speech import Speech
from worker.inputs.audio import ffmpeg

VISIBILITY = 10  # seconds: shorter than the alignment, so only the heartbeat keeps the message hidden


def wait_for(predicate, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


@pytest.fixture
def long_lecture(cloud: Cloud, hebrew_lecture: Speech, tmp_path: Path) -> dict[str, str]:
    """Five lectures back to back (about ten minutes): long enough to be interrupted."""
    listing = tmp_path / "list.txt"
    listing.write_text(f"file '{hebrew_lecture.wav}'\n" * 5)
    long_mp3 = tmp_path / "long.mp3"
    concat = [ffmpeg(), "-nostdin", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(listing)]
    subprocess.run([*concat, "-b:a", "32k", str(long_mp3)], check=True)
    cloud.put(cloud.audio_bucket, "long.mp3", long_mp3.read_bytes())
    cloud.put(cloud.text_bucket, "long.txt", hebrew_lecture.text * 5)
    return {"audio_key": "long.mp3", "text_key": "long.txt"}


@pytest.fixture
def start_worker(cloud: Cloud, tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    started: list[subprocess.Popen[str]] = []

    def start(**env: str) -> tuple[subprocess.Popen[str], Path]:
        log = tmp_path / f"worker-{len(started)}.log"
        process = subprocess.Popen(
            ["timestamp"],
            env={**os.environ, **cloud.env, "VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY), **env},
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
            text=True,
        )
        started.append(process)
        return process, log

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()


# Deadlines, not delays: each wait returns as soon as its event is seen. They are generous because
# a loaded 2-core machine may take minutes to load the model; none is reached when all goes well.
START_DEADLINE = 300
RELEASE_DEADLINE = 120


def test_sigterm_releases_the_message_unpublished_and_exits_0(
    cloud: Cloud, long_lecture: dict[str, str], start_worker
) -> None:  # type: ignore[no-untyped-def]
    cloud.sqs.send_message(QueueUrl=cloud.queue_url, MessageBody=__import__("json").dumps(long_lecture))
    process, log = start_worker(SHUTDOWN_GRACE_SECONDS="0")
    wait_for(lambda: "aligning long.mp3" in log.read_text(), START_DEADLINE, "the alignment to start")
    # Past the visibility timeout the message is still held: the heartbeat extends it.
    held_until = time.monotonic() + VISIBILITY + 2
    while time.monotonic() < held_until:
        assert cloud.queue_counts() == (0, 1), log.read_text()
        assert process.poll() is None, "the alignment ended before the test could interrupt it"
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=RELEASE_DEADLINE) == 0, log.read_text()
    assert "released unfinished" in log.read_text()
    assert cloud.queue_counts() == (1, 0)  # visible again at once, for another worker
    assert cloud.keys(cloud.output_bucket) == set()
    assert cloud.notices() == []


def test_sigterm_stops_the_first_pass(cloud: Cloud, long_lecture: dict[str, str], start_worker) -> None:  # type: ignore[no-untyped-def]
    """The first (fast) stable-ts pass over the whole recording takes long on a long lecture: the
    cancel hook reaches it too (it once ran only between windows). scripts/measure-release times
    every phase."""
    phase = "first pass over"
    cloud.sqs.send_message(QueueUrl=cloud.queue_url, MessageBody=__import__("json").dumps(long_lecture))
    process, log = start_worker(SHUTDOWN_GRACE_SECONDS="0")
    wait_for(lambda: phase in log.read_text(), START_DEADLINE, f"the log line {phase!r}")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=RELEASE_DEADLINE) == 0, log.read_text()
    text = log.read_text()
    assert "released unfinished" in text
    assert "aligning in windows" not in text  # stopped inside the pass, not after it
    assert cloud.queue_counts() == (1, 0)
    assert cloud.keys(cloud.output_bucket) == set()
    assert cloud.notices() == []


def test_sigterm_within_the_grace_period_lets_the_job_finish(
    cloud: Cloud, hebrew_lecture: Speech, hebrew_lecture_mp3: Path, start_worker
) -> None:  # type: ignore[no-untyped-def]
    cloud.put(cloud.audio_bucket, "2a.mp3", hebrew_lecture_mp3.read_bytes())
    cloud.put(cloud.text_bucket, "2a.txt", hebrew_lecture.text)
    cloud.sqs.send_message(
        QueueUrl=cloud.queue_url, MessageBody='{"audio_key": "2a.mp3", "text_key": "2a.txt"}'
    )
    cloud.sqs.send_message(
        QueueUrl=cloud.queue_url, MessageBody='{"audio_key": "2a.mp3", "text_key": "2a.txt"}'
    )
    process, log = start_worker(SHUTDOWN_GRACE_SECONDS="300")
    wait_for(lambda: "aligning 2a.mp3" in log.read_text(), START_DEADLINE, "the alignment to start")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=180) == 0, log.read_text()
    assert {"2a.vtt", "2a.json"} <= cloud.keys(cloud.output_bucket)
    assert [n["status"] for n in cloud.notices()] == ["succeeded"]
    assert cloud.queue_counts() == (1, 0)  # the first was deleted; the second was never taken

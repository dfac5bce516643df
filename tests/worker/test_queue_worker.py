"""The queue worker end to end against moto's S3 and SQS, on real Whisper weights.

Most tests drive `QueueWorker` in-process with real boto3 clients (the model loads once per
session); `test_the_timestamp_command_drains_the_queue` runs the real `timestamp` command.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import webvtt

from tests.conftest import Cloud
from tests.speech import Speech
from worker.cloud.jobs import JobRunner
from worker.cloud.queue import Notifier, WorkQueue
from worker.cloud.service import QueueWorker
from worker.cloud.shutdown import Shutdown
from worker.cloud.storage import Storage, aws_client
from worker.engine.alignment import Aligner
from worker.inputs.text import split_words
from worker.settings import Settings


def run_worker(cloud: Cloud, aligner: Aligner, **overrides: object) -> int:
    settings = cloud.settings(**{"max_messages": 1, "idle_timeout_seconds": 3, **overrides})
    sqs = aws_client("sqs", settings)
    queue = WorkQueue(
        sqs, settings.sqs_queue_url, settings.wait_time_seconds, settings.visibility_timeout_seconds
    )
    runner = JobRunner(settings, aligner, Storage(aws_client("s3", settings)))
    notifier = Notifier(sqs, settings.sqs_final_queue_url)
    return QueueWorker(settings, queue, notifier, runner, Shutdown(settings.shutdown_grace_seconds)).run()


def send(cloud: Cloud, body: dict | str) -> None:
    cloud.sqs.send_message(
        QueueUrl=cloud.queue_url, MessageBody=body if isinstance(body, str) else json.dumps(body)
    )


@pytest.fixture
def lecture_in_s3(cloud: Cloud, hebrew_lecture: Speech, hebrew_lecture_mp3: Path) -> dict[str, str]:
    cloud.put(cloud.audio_bucket, "berakhot/2a.mp3", hebrew_lecture_mp3.read_bytes())
    cloud.put(cloud.text_bucket, "berakhot/2a.txt", hebrew_lecture.text)
    return {"audio_key": "berakhot/2a.mp3", "text_key": "berakhot/2a.txt"}


def assert_published(cloud: Cloud, text: str, duration: float, stem: str = "berakhot/2a") -> dict:
    vtt = cloud.get(cloud.output_bucket, f"{stem}.vtt").decode()
    captions = webvtt.from_string(vtt).captions
    # Hebrew: every cue line starts with U+200F (RLM), so Latin-first lines still read right to left.
    assert all(line.startswith("\u200f") for c in captions for line in c.lines)
    assert [w for c in captions for w in c.text.replace("\u200f", "").split()] == split_words(text)
    srt = cloud.get(cloud.output_bucket, f"{stem}.srt").decode()  # OUTPUT_FORMATS' default: vtt,srt,json
    assert srt.startswith("1\n") and srt.count(" --> ") == len(captions)
    document = json.loads(cloud.get(cloud.output_bucket, f"{stem}.json"))
    words = [w for s in document["segments"] for w in s["words"]]
    assert "".join(w["word"] for w in words).split() == split_words(text)
    previous = 0.0
    for w in words:
        assert previous <= w["start"] <= w["end"] <= duration + 0.05
        previous = w["end"]
    return document


def test_a_message_becomes_subtitles_a_notice_and_a_deleted_message(
    cloud: Cloud, aligner: Aligner, hebrew_lecture: Speech, lecture_in_s3: dict[str, str]
) -> None:
    send(cloud, {**lecture_in_s3, "id": "job-1"})
    assert run_worker(cloud, aligner) == 0
    document = assert_published(cloud, hebrew_lecture.text, hebrew_lecture.duration)
    (notice,) = cloud.notices()
    assert notice["status"] == "succeeded" and notice["id"] == "job-1"
    assert (notice["vtt_key"], notice["json_key"]) == ("berakhot/2a.vtt", "berakhot/2a.json")
    assert notice["quality"] == document["quality"]
    assert notice["quality"]["inserted_by_engine"] == 0
    assert cloud.queue_counts() == (0, 0)
    assert cloud.get(cloud.text_bucket, "berakhot/2a.txt").decode() == hebrew_lecture.text


def test_an_s3_event_for_the_text_bucket_is_a_job(
    cloud: Cloud, aligner: Aligner, hebrew_lecture: Speech, lecture_in_s3: dict[str, str]
) -> None:
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": cloud.text_bucket}, "object": {"key": "berakhot/2a.txt"}},
    }
    send(cloud, {"Type": "Notification", "Message": json.dumps({"Records": [record]})})
    assert run_worker(cloud, aligner) == 0
    assert_published(cloud, hebrew_lecture.text, hebrew_lecture.duration)
    assert cloud.notices()[0]["audio_key"] == "berakhot/2a.mp3"


def test_processing_the_same_message_twice_publishes_the_same_outputs(
    cloud: Cloud, aligner: Aligner, lecture_in_s3: dict[str, str]
) -> None:
    send(cloud, lecture_in_s3)
    run_worker(cloud, aligner)
    first = cloud.get(cloud.output_bucket, "berakhot/2a.vtt")
    send(cloud, lecture_in_s3)
    run_worker(cloud, aligner)
    assert cloud.get(cloud.output_bucket, "berakhot/2a.vtt") == first
    assert [n["status"] for n in cloud.notices()] == ["succeeded", "succeeded"]


# --- bad input: a failure notice, the message kept for the dead-letter queue, nothing overwritten ---

PREVIOUS_VTT = b"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nprevious run\n"


def fail_once(cloud: Cloud, aligner: Aligner, body: dict | str) -> dict:
    cloud.put(cloud.output_bucket, "berakhot/2a.vtt", PREVIOUS_VTT)
    send(cloud, body)
    assert run_worker(cloud, aligner) == 1  # drain mode: a failed message fails the pod
    (notice,) = cloud.notices()
    assert notice["status"] == "failed" and notice["error_kind"] == "permanent"
    assert "\n" not in notice["error"]
    assert cloud.queue_counts() == (0, 0)  # not retried, not spinning:
    (dead,) = cloud.dead_letters()  # moved at once to the redrive policy's dead-letter queue
    assert dead["Body"] == (body if isinstance(body, str) else json.dumps(body))
    assert dead["MessageAttributes"]["error"]["StringValue"] == notice["error"]
    assert cloud.get(cloud.output_bucket, "berakhot/2a.vtt") == PREVIOUS_VTT
    assert "berakhot/2a.json" not in cloud.keys(cloud.output_bucket)
    return notice


def test_malformed_body(cloud: Cloud, aligner: Aligner) -> None:
    notice = fail_once(cloud, aligner, "{not json")
    assert "not JSON" in notice["error"]


def test_missing_audio_object(cloud: Cloud, aligner: Aligner, hebrew_lecture: Speech) -> None:
    cloud.put(cloud.text_bucket, "berakhot/2a.txt", hebrew_lecture.text)
    notice = fail_once(cloud, aligner, {"audio_key": "berakhot/nope.mp3", "text_key": "berakhot/2a.txt"})
    assert notice["error"] == f"s3://{cloud.audio_bucket}/berakhot/nope.mp3 does not exist"


def test_missing_text_object(cloud: Cloud, aligner: Aligner) -> None:
    notice = fail_once(cloud, aligner, {"audio_key": "berakhot/2a.mp3", "text_key": "berakhot/2a.txt"})
    assert notice["error"] == f"s3://{cloud.text_bucket}/berakhot/2a.txt does not exist"


def test_empty_text(cloud: Cloud, aligner: Aligner, hebrew_lecture_mp3: Path) -> None:
    cloud.put(cloud.audio_bucket, "berakhot/2a.mp3", hebrew_lecture_mp3.read_bytes())
    cloud.put(cloud.text_bucket, "berakhot/2a.txt", " \n\n ")
    notice = fail_once(cloud, aligner, {"audio_key": "berakhot/2a.mp3", "text_key": "berakhot/2a.txt"})
    assert notice["error"] == f"s3://{cloud.text_bucket}/berakhot/2a.txt is empty: no words to align"


def test_undecodable_audio(cloud: Cloud, aligner: Aligner, hebrew_lecture: Speech) -> None:
    cloud.put(cloud.audio_bucket, "berakhot/2a.mp3", b"ID3 this is not an mp3 at all" * 50)
    cloud.put(cloud.text_bucket, "berakhot/2a.txt", hebrew_lecture.text)
    notice = fail_once(cloud, aligner, {"audio_key": "berakhot/2a.mp3", "text_key": "berakhot/2a.txt"})
    assert notice["error"].startswith(f"audio s3://{cloud.audio_bucket}/berakhot/2a.mp3 cannot be decoded: ")


def test_output_key_equal_to_the_input_is_refused(
    cloud: Cloud, aligner: Aligner, hebrew_lecture: Speech
) -> None:
    transcript = json.dumps({"text": hebrew_lecture.text}, ensure_ascii=False)
    cloud.put(
        cloud.output_bucket, "berakhot/2a.json", transcript
    )  # the corrected text, as JSON, in the output bucket
    send(cloud, {"audio_key": "berakhot/2a.mp3", "text_key": "berakhot/2a.json"})
    assert run_worker(cloud, aligner, text_bucket=cloud.output_bucket) == 1
    (notice,) = cloud.notices()
    assert notice["status"] == "failed" and "would overwrite an input" in notice["error"]
    assert cloud.get(cloud.output_bucket, "berakhot/2a.json").decode() == transcript
    assert "berakhot/2a.vtt" not in cloud.keys(cloud.output_bucket)


def test_without_a_redrive_policy_a_failed_message_waits_hidden(cloud: Cloud, aligner: Aligner) -> None:
    plain = cloud.sqs.create_queue(QueueName=cloud.queue_url.rsplit("/", 1)[1] + "-plain")["QueueUrl"]
    cloud.sqs.send_message(QueueUrl=plain, MessageBody="{not json")
    run_worker(cloud, aligner, sqs_queue_url=plain)
    assert [n["status"] for n in cloud.notices()] == ["failed"]
    assert cloud.queue_counts(plain) == (0, 1)  # back after FAILED_RETRY_DELAY_SECONDS, not at once
    run_worker(cloud, aligner, sqs_queue_url=plain, idle_timeout_seconds=1)
    assert cloud.notices() == []


def test_unreachable_storage_is_transient_and_the_message_is_retried_later(
    cloud: Cloud, aligner: Aligner, lecture_in_s3: dict[str, str]
) -> None:
    send(cloud, lecture_in_s3)
    settings = cloud.settings(max_messages=1, aws_max_attempts=1)
    sqs = aws_client("sqs", settings)
    dead_s3 = Storage(
        __import__("boto3").client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1")
    )  # a closed port: connection refused
    queue = WorkQueue(sqs, settings.sqs_queue_url, 1, settings.visibility_timeout_seconds)
    worker = QueueWorker(
        settings,
        queue,
        Notifier(sqs, settings.sqs_final_queue_url),
        JobRunner(settings, aligner, dead_s3),
        Shutdown(0),
    )
    assert worker.run() == 1
    (notice,) = cloud.notices()
    assert notice["status"] == "failed" and notice["error_kind"] == "transient"
    assert cloud.queue_counts() == (0, 1)  # backing off, to be retried


def test_drain_mode_exits_when_idle(cloud: Cloud, aligner: Aligner) -> None:
    assert run_worker(cloud, aligner, idle_timeout_seconds=1, max_messages=0) == 0


def test_the_timestamp_command_drains_the_queue(
    cloud: Cloud, hebrew_lecture: Speech, lecture_in_s3: dict[str, str]
) -> None:
    send(cloud, lecture_in_s3)
    send(cloud, lecture_in_s3)
    env = {**os.environ, **cloud.env, "MAX_MESSAGES": "1", "IDLE_TIMEOUT_SECONDS": "5"}
    done = subprocess.run(["timestamp"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "MAX_MESSAGES" in done.stderr
    assert_published(cloud, hebrew_lecture.text, hebrew_lecture.duration)
    assert cloud.queue_counts() == (1, 0)  # the second message is left for the next pod


def test_a_bad_setting_exits_with_one_line_naming_it(cloud: Cloud) -> None:
    env = {**os.environ, **cloud.env, "VISIBILITY_TIMEOUT_SECONDS": "soon"}
    done = subprocess.run(["timestamp"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "timestamp: error: VISIBILITY_TIMEOUT_SECONDS: Input should be a valid integer, "
        "unable to parse string as an integer (got 'soon')"
    ]


def test_defaults_are_the_original_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    defaults = Settings()
    assert (defaults.aws_region, defaults.audio_bucket, defaults.text_bucket, defaults.output_bucket) == (
        "us-east-1",
        "portal-daf-yomi-audio",
        "final-transcription",
        "final-transcription",
    )
    assert (defaults.whisper_model, defaults.device.value, defaults.language, defaults.token_step) == (
        "base",
        "cuda",
        "he",
        200,
    )
    assert str(defaults.whisper_cache) == "/opt/models/whisper"
    assert defaults.sqs_queue_url is None and defaults.sqs_final_queue_url is None

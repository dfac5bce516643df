"""AWS failures on the wire (tests/faultproxy.py between the worker and moto): every message ends in
one explicit fate, the worker keeps looping, nothing is half-written.

Most tests drive the real QueueWorker in-process (the model loads once per session); the last ones
run the real `timestamp` command. The worker's clients go through the proxy; the test's own
clients (`cloud.s3`, `cloud.sqs`) talk to moto directly, so assertions see no faults.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cloud
from tests.faultproxy import ANY, Fault, FaultProxy, Match
from tests.speech import Speech, synthesize
from worker.cloud.jobs import JobRunner
from worker.cloud.queue import Notifier, WorkQueue
from worker.cloud.service import QueueWorker
from worker.cloud.shutdown import Shutdown
from worker.cloud.storage import Storage, aws_client
from worker.engine.alignment import Aligner
from worker.inputs.audio import ffmpeg

NOTICE = Match(action="SendMessage", queue_contains="/final-")
DEAD_LETTER = Match(action="SendMessage", queue_contains="/dead-")
JSON_WRITTEN = Match(action="PutObject", key_contains=".json")


@pytest.fixture(scope="module")
def short_speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[Speech, bytes]:
    """Three Hebrew sentences (about 12 s) as MP3: quick to align."""
    lines = (Path(__file__).parent.parent / "data" / "hebrew_lecture.txt").read_text("utf-8").splitlines()
    folder = tmp_path_factory.mktemp("short")
    speech = synthesize(lines[:3], folder / "short.wav", pauses=[0.5], rates=[160])
    mp3 = folder / "short.mp3"
    subprocess.run([ffmpeg(), "-nostdin", "-loglevel", "error", "-i", str(speech.wav), str(mp3)], check=True)
    return speech, mp3.read_bytes()


@pytest.fixture
def lecture(faulty_cloud: Cloud, short_speech: tuple[Speech, bytes]) -> dict[str, str]:
    speech, mp3 = short_speech
    faulty_cloud.put(faulty_cloud.audio_bucket, "daf/2a.mp3", mp3)
    faulty_cloud.put(faulty_cloud.text_bucket, "daf/2a.txt", speech.text)
    return {"audio_key": "daf/2a.mp3", "text_key": "daf/2a.txt", "id": "lecture-2a"}


def worker(cloud: Cloud, aligner: Aligner, shutdown: Shutdown | None = None, **overrides: Any) -> QueueWorker:
    """The real queue loop; botocore tries each call once, so the worker's own retries show."""
    settings = cloud.settings(
        **{"max_messages": 1, "idle_timeout_seconds": 3, "aws_max_attempts": 1, **overrides}
    )
    sqs = aws_client("sqs", settings)
    assert settings.sqs_queue_url
    queue = WorkQueue(sqs, settings.sqs_queue_url, 1, settings.visibility_timeout_seconds)
    runner = JobRunner(settings, aligner, Storage(aws_client("s3", settings)))
    notifier = Notifier(sqs, settings.sqs_final_queue_url)
    shutdown = shutdown or Shutdown(settings.shutdown_grace_seconds)
    return QueueWorker(settings, queue, notifier, runner, shutdown)


def send(cloud: Cloud, body: dict[str, Any] | str) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    cloud.sqs.send_message(QueueUrl=cloud.queue_url, MessageBody=text)


def release_after(proxy: FaultProxy, rule: Any, match: Match, count: int) -> threading.Thread:
    """End an outage once the proxy has refused `count` matching requests (an event, not a clock)."""

    def wait_then_release() -> None:
        try:
            proxy.wait_for(Match(where=lambda r: match(r) and (r.outcome or "").startswith("fault")), count)
        finally:
            rule.release()

    thread = threading.Thread(target=wait_then_release, daemon=True)
    thread.start()
    return thread


def outputs(cloud: Cloud) -> dict[str, bytes]:
    return {key: cloud.get(cloud.output_bucket, key) for key in cloud.keys(cloud.output_bucket)}


def assert_published(cloud: Cloud) -> dict[str, bytes]:
    published = outputs(cloud)
    assert {"daf/2a.vtt", "daf/2a.json"} <= set(published) <= {f"daf/2a.{f}" for f in ("vtt", "json", "srt")}
    document = json.loads(published["daf/2a.json"])
    import hashlib

    assert document["source"]["vtt_sha256"] == hashlib.sha256(published["daf/2a.vtt"]).hexdigest()
    return published


# --- 2. the worker survives every AWS failure mode and keeps looping ---


def test_total_outage_after_publishing_delays_the_notice_but_never_loses_it(
    faulty_cloud: Cloud, proxy: FaultProxy, aligner: Aligner, lecture: dict[str, str]
) -> None:
    send(faulty_cloud, lecture)
    # Every S3 and SQS request fails from the moment the JSON is written (notice, heartbeat,
    # delete) until the worker has been refused four times.
    outage = proxy.fail(ANY, Fault.reset(), after=JSON_WRITTEN)
    release_after(proxy, outage, ANY, 4)
    assert worker(faulty_cloud, aligner).run() == 0
    assert_published(faulty_cloud)
    (notice,) = faulty_cloud.notices()
    assert notice["status"] == "succeeded" and notice["id"] == "lecture-2a"
    assert faulty_cloud.queue_counts() == (0, 0)  # deleted once the notice was out
    assert faulty_cloud.dead_letters() == []
    assert len(proxy.seen(Match(where=lambda r: r.outcome == "fault reset"))) >= 4


def test_send_message_outage_outlasting_patience_retries_the_message_and_republishes(
    faulty_cloud: Cloud, proxy: FaultProxy, aligner: Aligner, lecture: dict[str, str]
) -> None:
    send(faulty_cloud, lecture)
    refused = proxy.fail(NOTICE, Fault.error(500))
    assert worker(faulty_cloud, aligner, settle_patience_seconds=0).run() == 1
    first = assert_published(faulty_cloud)
    assert faulty_cloud.notices() == [] and faulty_cloud.dead_letters() == []
    assert faulty_cloud.queue_counts() == (0, 1)  # kept, hidden with backoff: not lost, not dead
    # The backoff is 30 s; make the message visible now, with the handle the worker used.
    *_, hidden = proxy.seen(
        Match(action="ChangeMessageVisibility", where=lambda r: r.payload.get("VisibilityTimeout") == 30)
    )
    faulty_cloud.sqs.change_message_visibility(
        QueueUrl=faulty_cloud.queue_url, ReceiptHandle=hidden.payload["ReceiptHandle"], VisibilityTimeout=0
    )
    refused.release()
    assert worker(faulty_cloud, aligner).run() == 0
    again = assert_published(faulty_cloud)  # the same subtitles, rewritten (timings in `quality` differ)
    assert again["daf/2a.vtt"] == first["daf/2a.vtt"]
    assert json.loads(again["daf/2a.json"])["segments"] == json.loads(first["daf/2a.json"])["segments"]
    (notice,) = faulty_cloud.notices()
    assert notice["status"] == "succeeded" and notice["attempt"] == 2
    assert faulty_cloud.queue_counts() == (0, 0)


def test_dead_letter_outage_holds_the_failure_until_it_moves(
    faulty_cloud: Cloud, proxy: FaultProxy, aligner: Aligner
) -> None:
    send(faulty_cloud, "{not json")
    outage = proxy.fail(DEAD_LETTER, Fault.reset())
    release_after(proxy, outage, DEAD_LETTER, 3)
    assert worker(faulty_cloud, aligner).run() == 1
    (notice,) = faulty_cloud.notices()
    assert notice["status"] == "failed" and "not JSON" in notice["error"]
    (dead,) = faulty_cloud.dead_letters()
    assert dead["Body"] == "{not json"
    assert faulty_cloud.queue_counts() == (0, 0)


def test_receive_errors_back_off_and_the_worker_carries_on(
    faulty_cloud: Cloud, proxy: FaultProxy, aligner: Aligner
) -> None:
    send(faulty_cloud, "{not json")
    proxy.fail(Match(action="ReceiveMessage"), Fault.error(503), times=2)
    proxy.fail(Match(action="ReceiveMessage"), Fault.reset(), times=1)
    assert worker(faulty_cloud, aligner, idle_timeout_seconds=30).run() == 1
    outcomes = [r.outcome for r in proxy.seen(Match(action="ReceiveMessage"))]
    assert outcomes[:4] == ["fault 503 ServiceUnavailable"] * 2 + ["fault reset", "forwarded 200"]
    assert [n["status"] for n in faulty_cloud.notices()] == ["failed"]


# --- 3. dead-lettering cannot fail on content ---


def test_an_error_with_characters_sqs_refuses_still_reaches_the_dead_letter_queue(
    faulty_cloud: Cloud, proxy: FaultProxy, aligner: Aligner
) -> None:
    key = "daf/bad\ufffekey.txt"  # S3 allows U+FFFE in a key; SQS refuses it in an attribute
    send(faulty_cloud, {"audio_key": "daf/2a.mp3", "text_key": key})
    assert worker(faulty_cloud, aligner).run() == 1
    (notice,) = faulty_cloud.notices()
    assert notice["status"] == "failed" and notice["error_kind"] == "permanent"
    (dead,) = faulty_cloud.dead_letters()
    error = dead["MessageAttributes"]["error"]["StringValue"]
    assert error.endswith("bad\ufffdkey.txt does not exist") and "\ufffe" not in error
    assert notice["error"].endswith("bad\ufffekey.txt does not exist")  # JSON-escaped on the wire
    assert json.loads(dead["Body"])["text_key"] == key
    assert faulty_cloud.queue_counts() == (0, 0)
    assert not proxy.seen(Match(where=lambda r: (r.outcome or "").startswith("limit")))


def test_a_body_too_large_for_its_error_attribute_still_moves_without_it(
    faulty_cloud: Cloud, proxy: FaultProxy, aligner: Aligner
) -> None:
    limit = {"MaximumMessageSize": str(256 * 1024)}  # a queue made before SQS allowed 1 MiB
    for queue in (faulty_cloud.queue_url, faulty_cloud.dead_letter_url):
        faulty_cloud.sqs.set_queue_attributes(QueueUrl=queue, Attributes=limit)
    body = json.dumps({"audio_key": "a.mp3", "text_key": "a.txt", "padding": "x" * (256 * 1024 - 80)})
    assert 256 * 1024 - 64 < len(body) <= 256 * 1024
    send(faulty_cloud, body)
    assert worker(faulty_cloud, aligner).run() == 1
    (notice,) = faulty_cloud.notices()
    assert notice["status"] == "failed" and "padding" in notice["error"]  # the full error is here
    (dead,) = faulty_cloud.dead_letters()
    assert dead["Body"] == body
    assert len(dead.get("MessageAttributes", {}).get("error", {}).get("StringValue", "")) < 64
    assert faulty_cloud.queue_counts() == (0, 0)


# --- 4. S3 errors sorted by what a retry can do ---


def test_an_output_key_over_1024_bytes_is_refused_before_aligning(
    faulty_cloud: Cloud, proxy: FaultProxy, aligner: Aligner, short_speech: tuple[Speech, bytes]
) -> None:
    text_key = "daf/" + "א" * 505 + ".txt"  # 1018 bytes: a valid input key
    faulty_cloud.put(faulty_cloud.text_bucket, text_key, short_speech[0].text)
    send(faulty_cloud, {"audio_key": "daf/2a.mp3", "text_key": text_key})
    assert worker(faulty_cloud, aligner, output_prefix="subtitles/").run() == 1
    (notice,) = faulty_cloud.notices()
    assert notice["error_kind"] == "permanent" and "1024 bytes" in notice["error"]
    assert faulty_cloud.dead_letters()[0]["Body"].startswith('{"audio_key"')
    assert not proxy.seen(Match(service="s3"))  # nothing read, nothing aligned, nothing written
    assert outputs(faulty_cloud) == {}


def test_key_too_long_from_s3_is_permanent_not_retried(
    faulty_cloud: Cloud, proxy: FaultProxy, aligner: Aligner, short_speech: tuple[Speech, bytes]
) -> None:
    faulty_cloud.put(faulty_cloud.text_bucket, "daf/2a.txt", short_speech[0].text)
    audio_key = "daf/" + "a" * 1030 + ".mp3"  # S3 (here: the proxy) refuses it: KeyTooLongError
    send(faulty_cloud, {"audio_key": audio_key, "text_key": "daf/2a.txt"})
    assert worker(faulty_cloud, aligner).run() == 1
    (notice,) = faulty_cloud.notices()
    assert notice["status"] == "failed" and notice["error_kind"] == "permanent"
    assert len(faulty_cloud.dead_letters()) == 1 and faulty_cloud.queue_counts() == (0, 0)
    assert outputs(faulty_cloud) == {}


def test_a_truncated_text_body_is_read_again(
    faulty_cloud: Cloud, proxy: FaultProxy, aligner: Aligner, lecture: dict[str, str]
) -> None:
    send(faulty_cloud, lecture)
    proxy.fail(Match(action="GetObject", key_contains="2a.txt"), Fault.truncate(0.4), times=2)
    assert worker(faulty_cloud, aligner).run() == 0
    reads = [r.outcome or "" for r in proxy.seen(Match(action="GetObject", key_contains="2a.txt"))]
    assert [o.split(" ")[:2] for o in reads] == [["fault", "truncate"]] * 2 + [["forwarded", "200"]]
    assert_published(faulty_cloud)
    assert [n["status"] for n in faulty_cloud.notices()] == ["succeeded"]
    assert faulty_cloud.queue_counts() == (0, 0)


# --- 5. the last allowed receive ---


def test_a_message_that_crashed_workers_is_dead_lettered_on_its_last_receive_before_work(
    faulty_cloud: Cloud, proxy: FaultProxy, aligner: Aligner, lecture: dict[str, str]
) -> None:
    send(faulty_cloud, lecture)
    for _ in range(2):  # two workers took it and died (kill -9, OOM) without a word
        got = faulty_cloud.sqs.receive_message(QueueUrl=faulty_cloud.queue_url, VisibilityTimeout=0)
        assert len(got["Messages"]) == 1
    assert worker(faulty_cloud, aligner).run() == 1  # receive #3 = maxReceiveCount
    (notice,) = faulty_cloud.notices()
    assert notice["status"] == "failed" and notice["id"] == "lecture-2a" and notice["attempt"] == 3
    assert notice["error"] == "crashed or timed out the worker on 2 earlier receives"
    (dead,) = faulty_cloud.dead_letters()
    assert dead["MessageAttributes"]["error"]["StringValue"] == notice["error"]
    assert not proxy.seen(Match(service="s3"))  # no work started
    assert faulty_cloud.queue_counts() == (0, 0)


def test_transient_failures_end_in_the_dead_letter_queue_with_their_error(
    faulty_cloud: Cloud, proxy: FaultProxy, aligner: Aligner, lecture: dict[str, str]
) -> None:
    send(faulty_cloud, lecture)
    faulty_cloud.sqs.receive_message(QueueUrl=faulty_cloud.queue_url, VisibilityTimeout=0)  # attempt 1
    proxy.fail(Match(action="GetObject"), Fault.error(503))
    assert worker(faulty_cloud, aligner).run() == 1  # attempt 2 of 3: the last is kept for crashes
    (notice,) = faulty_cloud.notices()
    assert notice["error_kind"] == "transient" and "ServiceUnavailable" in notice["error"]
    (dead,) = faulty_cloud.dead_letters()
    assert dead["MessageAttributes"]["error"]["StringValue"].startswith("gave up after 2 attempts: ")


def test_a_shutdown_on_the_next_to_last_receive_sends_a_fresh_copy(
    faulty_cloud: Cloud, proxy: FaultProxy, aligner: Aligner, lecture: dict[str, str]
) -> None:
    send(faulty_cloud, lecture)
    faulty_cloud.sqs.receive_message(QueueUrl=faulty_cloud.queue_url, VisibilityTimeout=0)  # receive 1
    shutdown = Shutdown(0)
    shutdown.cancel.set()  # the grace period is over: the job stops at its first progress report
    assert worker(faulty_cloud, aligner, shutdown).run() == 0  # released is not failed
    assert faulty_cloud.notices() == [] and outputs(faulty_cloud) == {}
    # Released on receive 2 of 3 as a fresh copy: the copy's next receive is its first, not the last
    # one (which would read as a crashed worker).
    got = faulty_cloud.sqs.receive_message(
        QueueUrl=faulty_cloud.queue_url, MessageSystemAttributeNames=["ApproximateReceiveCount"]
    )
    (copy,) = got["Messages"]
    assert json.loads(copy["Body"]) == lecture and copy["Attributes"]["ApproximateReceiveCount"] == "1"
    assert faulty_cloud.queue_counts() == (0, 1)  # only the copy: the original was deleted
    assert len(proxy.seen(Match(action="SendMessage", queue_contains="/work-"))) == 1


# --- 6. an unexpected exception fails the job, not the process ---


class BuggyEngine(Aligner):
    """The session's Whisper model behind an engine with a bug: the kind stable-ts showed with
    `language: zz` (an AttributeError in its own error path), which input checks now stop earlier."""

    def align(self, *args: Any, **kwargs: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded while calling a Python object")


def test_an_engine_bug_fails_the_job_for_good_and_the_loop_carries_on(
    faulty_cloud: Cloud, aligner: Aligner, lecture: dict[str, str]
) -> None:
    buggy = BuggyEngine(aligner._model, aligner.model_name, aligner.defaults)
    send(faulty_cloud, lecture)
    send(faulty_cloud, lecture)
    assert worker(faulty_cloud, buggy, max_messages=2).run() == 1  # both handled: the loop lived on
    notices = faulty_cloud.notices()
    assert [(n["status"], n["error_kind"]) for n in notices] == [("failed", "permanent")] * 2
    assert notices[0]["error"] == (
        "internal error: RecursionError: maximum recursion depth exceeded while calling a Python object"
    )
    assert len(faulty_cloud.dead_letters()) == 2 and faulty_cloud.queue_counts() == (0, 0)
    assert outputs(faulty_cloud) == {}


def test_a_vanished_scratch_directory_is_retried_not_fatal(
    faulty_cloud: Cloud, aligner: Aligner, lecture: dict[str, str], tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    loop = worker(faulty_cloud, aligner, scratch_dir=scratch)
    scratch.rmdir()  # the emptyDir went away: an OSError from deep inside the job
    send(faulty_cloud, lecture)
    assert loop.run() == 1
    (notice,) = faulty_cloud.notices()
    assert notice["error_kind"] == "transient" and notice["error"].startswith("internal error: FileNotFound")
    assert faulty_cloud.queue_counts() == (0, 1)  # hidden with backoff, to be retried
    assert outputs(faulty_cloud) == {}


# --- the real `timestamp` process ---


def timestamp(cloud: Cloud, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["timestamp"],
        env={**os.environ, **cloud.env, "AWS_MAX_ATTEMPTS": "1", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_process_stays_up_through_a_send_message_outage_exits_by_its_fates_and_logs_safely(
    faulty_cloud: Cloud, proxy: FaultProxy, lecture: dict[str, str]
) -> None:
    """One run of the real command (loading the model is the slow part) for cases 2, 7 and 8."""
    secret, token, marker = "SECRETKEYMARKER0123", "SESSIONTOKENMARKER4567", "BODYMARKER89"
    # An SNS envelope: its Subject is in the body botocore would log, but in nothing the worker logs.
    send(faulty_cloud, {"Type": "Notification", "Subject": marker, "Message": json.dumps(lecture)})
    send(faulty_cloud, "{not json")
    outage = proxy.fail(Match(action="SendMessage"), Fault.error(500))
    release_after(proxy, outage, Match(action="SendMessage"), 3)
    done = timestamp(
        faulty_cloud,
        MAX_MESSAGES="2",
        IDLE_TIMEOUT_SECONDS="5",
        LOG_LEVEL="DEBUG",
        LOG_FORMAT="json",
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_SESSION_TOKEN=token,
    )
    # 2 + 7: it stayed up through the outage; exit 1 because one of the two messages failed
    assert done.returncode == 1, done.stderr[-3000:]
    assert_published(faulty_cloud)
    notices = sorted(faulty_cloud.notices(), key=lambda n: n["status"])
    assert [n["status"] for n in notices] == ["failed", "succeeded"]
    assert [d["Body"] for d in faulty_cloud.dead_letters()] == ["{not json"]
    assert faulty_cloud.queue_counts() == (0, 0)
    # 8: one JSON object a line; no AWS library below INFO; no credentials, tokens or bodies
    records = [json.loads(line) for line in done.stderr.splitlines()]
    for hidden in (secret, token, marker, "Authorization", "X-Amz-Security-Token"):
        assert hidden.lower() not in done.stderr.lower()
    quiet = ("botocore", "boto3", "urllib3", "s3transfer")
    assert not [r for r in records if r["logger"].startswith(quiet) and r["level"] == "DEBUG"]
    assert any(r["level"] == "DEBUG" for r in records)  # LOG_LEVEL=DEBUG did reach the worker's own
    # per-job metrics in CloudWatch embedded metric format, with the job's context
    (metrics,) = [r for r in records if "_aws" in r]
    assert metrics["outcome"] == "succeeded" and metrics["text_key"] == "daf/2a.txt"
    assert metrics["job_id"] == "lecture-2a" and "message_id" in metrics
    assert metrics["audio_seconds"] > 10 and metrics["real_time_factor"] > 0
    emf = metrics["_aws"]["CloudWatchMetrics"][0]
    assert {m["Name"] for m in emf["Metrics"]} == {"job_seconds", "audio_seconds", "real_time_factor"}
    assert all(name in metrics for names in emf["Dimensions"] for name in names)
    phases = {r["phase"] for r in records if "phase" in r}
    assert {"read text", "download audio", "decode audio", "align", "publish"} <= phases

"""Bad input against the real `timestamp` process and a moto server: one line naming the problem,
a failure notice, the message in the dead-letter queue with that line, nothing written, and the
worker carries on to the next message. One worker run handles every case (the model loads once);
each test then checks its own case. The worker talks to moto through the fault proxy (no faults
set), which enforces the AWS limits moto does not: S3 key length, SQS character set and size.
`timestamp align` refuses the same inputs before loading a model.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, Cloud, make_cloud
from tests.faultproxy import FaultProxy, Match
from tests.speech import synthesize
from tests.worker.test_input_checks import hls_playlist, make_audio
from worker.inputs.text import split_words

MAX_AUDIO_SECONDS = 120  # for this run: the long-audio case need not be hours long


@dataclass(frozen=True)
class Case:
    body: str  # the work message
    error: tuple[str, ...]  # what the one-line error must say
    text_key: str | None = None  # the notice names it when the message itself parsed


def job(text_key: str, audio_key: str = "short.mp3", **extra: str) -> str:
    return json.dumps({"audio_key": audio_key, "text_key": text_key, **extra})


CASES = {
    "unknown_language": Case(job("zz.txt", language="zz"), ("language 'zz' is not one Whisper",), "zz.txt"),
    "nested_body": Case("[" * 100_000, ("message body is JSON nested 100000 levels deep",)),
    "nested_transcript": Case(job("nested.txt"), ("nested.txt", "nested 50001 levels deep"), "nested.txt"),
    "control_character_in_key": Case(job("bell\x07.txt"), ("'text_key'", "control character U+0007")),
    "output_key_too_long": Case(
        job("k" * 1020 + ".txt"), ("output key is 1025 bytes long", "at most 1024"), "k" * 1020 + ".txt"
    ),
    "id_too_long": Case(job("id.txt", id="i" * 100_000), ("id is 100000 characters long",)),
    "text_too_large": Case(
        job("large.txt"), ("large.txt is 1,100,001 bytes", "MAX_TEXT_BYTES is 1,000,000"), "large.txt"
    ),
    "words_for_seconds": Case(
        job("many.txt"), ("many.txt: 20000 words for 2.8 s of audio", "MAX_WORDS_PER_SECOND"), "many.txt"
    ),
    "audio_too_long": Case(
        job("long.txt", "long.mp3"), ("long.mp3 lasts 300 s; MAX_AUDIO_SECONDS is 120",), "long.txt"
    ),
    "same_stem_as_another_text": Case(
        job("other.md"), ("other.json is the output of 'other.txt'",), "other.md"
    ),
    "hls_playlist": Case(job("hls.txt", "hls.m3u8"), ("hls.m3u8", "not a plain audio file"), "hls.txt"),
}
# Published earlier for other.txt; other.md, beside it, must not replace it.
OTHER_OUTPUT = json.dumps({"segments": [], "source": {"text_key": "other.txt"}}).encode()
SKIPPED_EVENT = {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": ""}, "object": {"key": ""}}}


@dataclass
class Run:
    cloud: Cloud
    returncode: int
    log: str
    notices: list[dict[str, Any]]
    dead_letters: dict[str, str]  # body → its `error` attribute
    outputs: set[str]
    bracket_text: str
    published_at: datetime | None  # LastModified of the bracket case's JSON
    written: set[str]  # keys of every PutObject the worker sent
    refused_by_aws: list[str]  # requests AWS would have refused (limits the proxy enforces)

    def notice(self, case: Case) -> dict[str, Any]:
        matching = [
            n
            for n in self.notices
            if (
                n["text_key"] == case.text_key
                if case.text_key
                else all(e in (n["error"] or "") for e in case.error)
            )
        ]
        assert len(matching) == 1, (case, self.notices, self.log[-3000:])
        return matching[0]


def drain(cloud: Cloud, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while got := cloud.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1
    ).get("Messages"):
        found += got
        for message in got:
            cloud.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


@pytest.fixture(scope="module")
def run(moto_endpoint: str, whisper_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    cloud = make_cloud(moto_endpoint, whisper_cache)
    folder = tmp_path_factory.mktemp("bad-inputs")
    sentences = (DATA / "hebrew_lecture.txt").read_text(encoding="utf-8").splitlines()[:2]
    speech = synthesize(sentences, folder / "short.wav", pauses=[0.5], rates=[160])
    bracket_text = "[פתיחה]\n" + speech.text
    put = cloud.put
    put(cloud.audio_bucket, "short.mp3", make_audio(folder / "tone.mp3", 2.8, "sine=f=300").read_bytes())
    put(cloud.audio_bucket, "speech.wav", speech.wav.read_bytes())
    put(cloud.audio_bucket, "long.mp3", make_audio(folder / "long.mp3", 300).read_bytes())
    put(cloud.audio_bucket, "hls.m3u8", hls_playlist(folder).read_bytes())
    put(cloud.text_bucket, "nested.txt", '{"text": ' + "[" * 50_000 + "]" * 50_000 + "}")
    put(cloud.text_bucket, "large.txt", "ab " * 366_667)  # 1,100,001 bytes
    put(cloud.text_bucket, "many.txt", "מילה " * 20_000)
    for key in ("zz.txt", "id.txt", "long.txt", "hls.txt", "x.md"):
        put(cloud.text_bucket, key, "שלום עולם")
    put(cloud.text_bucket, "bracket.txt", bracket_text)
    put(cloud.output_bucket, "other.json", OTHER_OUTPUT)
    bodies = [case.body for case in CASES.values()]
    records = [
        {**SKIPPED_EVENT, "s3": {"bucket": {"name": cloud.text_bucket}, "object": {"key": key}}}
        for key in ("x.md", "bracket.vtt")  # another text beside a lecture; an output in the text bucket
    ]
    bodies += [json.dumps({"Records": records}), job("bracket.txt", "speech.wav")]
    for body in bodies:
        cloud.sqs.send_message(QueueUrl=cloud.queue_url, MessageBody=body)
    env = {
        **os.environ,
        **cloud.env,
        "MAX_MESSAGES": str(len(bodies)),
        "IDLE_TIMEOUT_SECONDS": "20",
        "MAX_AUDIO_SECONDS": str(MAX_AUDIO_SECONDS),
    }
    proxy = FaultProxy(moto_endpoint).start()
    try:
        env["AWS_ENDPOINT_URL"] = proxy.url
        done = subprocess.run(
            ["timestamp"], env=env, capture_output=True, text=True, timeout=500, check=False
        )
    finally:
        proxy.stop()
    written = {r.key or "" for r in proxy.seen(Match(action="PutObject"))}
    refused = [f"{r.action} {r.outcome}" for r in proxy.requests if (r.outcome or "").startswith("limit")]
    dead = {
        m["Body"]: m["MessageAttributes"]["error"]["StringValue"] for m in drain(cloud, cloud.dead_letter_url)
    }
    notices = [json.loads(m["Body"]) for m in drain(cloud, cloud.final_queue_url)]
    outputs = cloud.keys(cloud.output_bucket)
    published = None
    if "bracket.json" in outputs:
        published = cloud.s3.head_object(Bucket=cloud.output_bucket, Key="bracket.json")["LastModified"]
    return Run(
        cloud, done.returncode, done.stderr, notices, dead, outputs, bracket_text, published, written, refused
    )


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_fails_once_in_one_line_and_goes_to_the_dead_letter_queue(run: Run, name: str) -> None:
    case = CASES[name]
    notice = run.notice(case)
    assert (notice["status"], notice["error_kind"]) == ("failed", "permanent")
    assert all(part in notice["error"] for part in case.error), notice["error"]
    assert "\n" not in notice["error"] and len(json.dumps(notice)) < 4000  # no echo of a huge id or body
    assert run.dead_letters.get(case.body) == notice["error"]  # the message waits for a person
    if case.text_key:
        stem = case.text_key.rsplit(".", 1)[0]
        assert not {f"{stem}.vtt", f"{stem}.json"} & run.outputs - {"other.json"}  # nothing written
    assert run.cloud.get(run.cloud.output_bucket, "other.json") == OTHER_OUTPUT  # nothing overwritten


def test_the_worker_stays_up_through_every_bad_input(run: Run) -> None:
    assert run.returncode in (0, 1), run.log[-3000:]  # drained: 1 only says some message failed
    assert "Traceback" not in run.log, run.log[-3000:]
    assert len(run.notices) == len(CASES) + 1  # the skipped event sends none
    assert run.outputs == {"bracket.vtt", "bracket.srt", "bracket.json", "other.json"}
    assert run.written == {"bracket.vtt", "bracket.srt", "bracket.json"}  # nothing else, not even partly
    assert run.refused_by_aws == []  # no error attribute, notice or key AWS would refuse
    assert run.cloud.queue_counts() == (0, 0)


def test_s3_events_for_other_keys_are_skipped_and_deleted_not_failed(run: Run) -> None:
    assert "S3 event for 'x.md' skipped" in run.log
    assert "S3 event for 'bracket.vtt' skipped" in run.log
    assert not [n for n in run.notices if n["text_key"] in ("x.md", "bracket.vtt")]
    assert not [body for body in run.dead_letters if "Records" in body]


def test_a_text_beginning_with_a_bracket_is_aligned_as_plain_text(run: Run) -> None:
    (notice,) = [n for n in run.notices if n["text_key"] == "bracket.txt"]
    assert notice["status"] == "succeeded", notice
    document = json.loads(run.cloud.get(run.cloud.output_bucket, "bracket.json"))
    words = [w["word"] for s in document["segments"] for w in s["words"]]
    assert "".join(words).split() == split_words(run.bracket_text)  # "[פתיחה]" included, word for word


def test_finished_at_is_when_the_job_finished(run: Run) -> None:
    (notice,) = [n for n in run.notices if n["text_key"] == "bracket.txt"]
    assert run.published_at is not None
    # The outputs are written at the end of the job; a notice stamped at its start predates them.
    assert datetime.fromisoformat(notice["finished_at"]) >= run.published_at.replace(microsecond=0)


CliInput = Callable[[Path], tuple[Path, Path, list[str], str]]


def cli_language(folder: Path) -> tuple[Path, Path, list[str], str]:
    (folder / "t.txt").write_text("שלום עולם")
    return make_audio(folder / "a.mp3", 3), folder / "t.txt", ["--language", "zz"], "language 'zz'"


def cli_playlist(folder: Path) -> tuple[Path, Path, list[str], str]:
    (folder / "t.txt").write_text("שלום עולם")
    return hls_playlist(folder), folder / "t.txt", [], "not a plain audio file"


def cli_words(folder: Path) -> tuple[Path, Path, list[str], str]:
    (folder / "t.txt").write_text("מילה " * 20_000)
    return make_audio(folder / "a.mp3", 2.8), folder / "t.txt", [], "20000 words for 2.8 s of audio"


def cli_nested(folder: Path) -> tuple[Path, Path, list[str], str]:
    (folder / "t.txt").write_text('{"segments": ' + "[" * 5000 + "]" * 5000 + "}")
    return make_audio(folder / "a.mp3", 3), folder / "t.txt", [], "nested 5001 levels deep"


@pytest.mark.parametrize("make", [cli_language, cli_playlist, cli_words, cli_nested])
def test_timestamp_align_refuses_bad_input_before_loading_a_model(tmp_path: Path, make: CliInput) -> None:
    audio, text, options, message = make(tmp_path)
    # No model exists at this path: reaching the model would end in exit 2 and a WHISPER_MODEL error.
    command = ["timestamp", "align", str(audio), str(text), "--out-dir", str(tmp_path / "out"), *options]
    env = {**os.environ, "WHISPER_MODEL": str(tmp_path / "no-model"), "DEVICE": "cpu"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("timestamp: error: ") and message in line, line
    assert not (tmp_path / "out").exists()

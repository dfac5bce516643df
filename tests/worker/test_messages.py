import json

import pytest

from worker.cloud.messages import (
    AlignmentJob,
    MessageError,
    OutputKeyConflict,
    derive_audio_key,
    output_keys,
    parse_message,
)
from worker.settings import Settings

SETTINGS = Settings(text_bucket="final-transcription", audio_bucket="portal-daf-yomi-audio")


def s3_event(key: str, bucket: str = "final-transcription", event: str = "ObjectCreated:Put") -> dict:
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": event,
                "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
            }
        ]
    }


def test_plain_body_with_optional_extras() -> None:
    body = json.dumps({"audio_key": "a/1.mp3", "text_key": "t/1.txt", "id": "x", "language": "en"})
    assert parse_message(body, SETTINGS) == [
        AlignmentJob(audio_key="a/1.mp3", text_key="t/1.txt", id="x", language="en")
    ]


def test_s3_event_derives_the_audio_key_and_decodes_the_key() -> None:
    (job,) = parse_message(json.dumps(s3_event("berakhot/daf+2%D7%90.txt")), SETTINGS)
    assert job.text_key == "berakhot/daf 2א.txt"
    assert job.audio_key == "berakhot/daf 2א.mp3"


def test_s3_event_wrapped_in_sns() -> None:
    envelope = {"Type": "Notification", "Message": json.dumps(s3_event("x/y.txt"))}
    assert [j.audio_key for j in parse_message(json.dumps(envelope), SETTINGS)] == ["x/y.mp3"]


def test_s3_test_event_asks_for_nothing() -> None:
    assert parse_message(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}), SETTINGS) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        ("[1]", "expected an object"),
        (json.dumps({"audio_key": "a.mp3"}), "'text_key'"),
        (
            json.dumps(
                {
                    "audio_key": "a.mp3",
                    "text_key": "",
                }
            ),
            "'text_key'",
        ),
        (json.dumps({"audio_key": "a", "text_key": "b", "colour": 1}), "'colour'"),
        (json.dumps(s3_event("x.txt", bucket="elsewhere")), "expected TEXT_BUCKET"),
        (json.dumps(s3_event("x.txt", event="ObjectRemoved:Delete")), "not ObjectCreated"),
        (json.dumps({"Records": []}), "no Records"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(body: str, message: str) -> None:
    with pytest.raises(MessageError, match=message):
        parse_message(body, SETTINGS)


def test_audio_key_template_fields() -> None:
    assert derive_audio_key("shas/berakhot/2a.txt", "audio/{name}.m4a") == "audio/2a.m4a"
    assert derive_audio_key("shas/berakhot/2a.txt", "{dir}{name}.mp3") == "shas/berakhot/2a.mp3"
    with pytest.raises(MessageError, match="AUDIO_KEY_TEMPLATE"):
        derive_audio_key("a.txt", "{nope}.mp3")


def test_output_keys_follow_the_text_key() -> None:
    keys = output_keys(AlignmentJob(audio_key="a/1.mp3", text_key="t/1.txt"), SETTINGS)
    assert (keys.vtt_key, keys.json_key) == ("t/1.vtt", "t/1.json")
    prefixed = output_keys(
        AlignmentJob(audio_key="a/1.mp3", text_key="t/1.txt"), Settings(output_prefix="aligned/")
    )
    assert prefixed.vtt_key == "aligned/t/1.vtt"


def test_an_output_key_equal_to_the_corrected_text_is_refused() -> None:
    with pytest.raises(OutputKeyConflict, match="would overwrite an input"):
        output_keys(AlignmentJob(audio_key="a.mp3", text_key="lectures/1.json"), SETTINGS)

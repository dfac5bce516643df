"""Input checks on their own: JSON nesting, keys and ids, languages, audio containers and length,
text size and words per second. The worker and the CLI running them: tests/worker/test_bad_inputs.py."""

from __future__ import annotations

import importlib.util
import json
import re
import resource
import runpy
import subprocess
from pathlib import Path

import pytest

from worker.cloud.messages import AlignmentJob, MessageError, output_keys, parse_message
from worker.inputs.audio import AudioError, ffmpeg, load_audio, probe_audio
from worker.inputs.checks import (
    ImplausibleInput,
    check_audio,
    check_inputs,
    check_words_per_second,
    read_transcript,
)
from worker.inputs.jsondoc import MAX_JSON_DEPTH, nesting_depth
from worker.inputs.keys import KeyRefused
from worker.inputs.language import UnknownLanguage, check_language, supported_languages
from worker.inputs.text import TranscriptError, decode_transcript, split_words
from worker.settings import Backend, Settings


def make_audio(path: Path, seconds: float, source: str = "anullsrc=r=16000:cl=mono") -> Path:
    """Silence (or a lavfi `source`), encoded by ffmpeg from its extension."""
    command = [ffmpeg(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source]
    subprocess.run([*command, "-t", str(seconds), "-b:a", "8k", str(path)], check=True)
    return path


def hls_playlist(tmp_path: Path) -> Path:
    """An "audio" file that is an HLS playlist naming a real local audio file."""
    secret = make_audio(tmp_path / "local-only.mp3", 3, "sine=f=440")
    playlist = tmp_path / "lecture.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:3,\nfile://{secret}\n#EXT-X-ENDLIST\n")
    return playlist


def one_line(error: BaseException) -> str:
    assert "\n" not in str(error)
    return str(error)


@pytest.mark.parametrize("opening", ["[", "{", '{"a":'])
def test_a_message_nested_beyond_the_limit_is_refused_in_one_line(opening: str) -> None:
    body = opening * 200_000
    with pytest.raises(MessageError, match="nested 200000 levels deep") as caught:
        parse_message(body, Settings())
    one_line(caught.value)


def test_a_transcript_nested_beyond_the_limit_is_refused_in_one_line() -> None:
    data = b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(TranscriptError, match="nested 100001 levels deep") as caught:
        decode_transcript(data, "s3://t/x.txt")
    assert "s3://t/x.txt" in one_line(caught.value)


def test_nesting_depth_ignores_brackets_inside_strings() -> None:
    assert nesting_depth('{"text": "[[[[{{{{\\"[[["}') == 1
    assert nesting_depth(json.dumps({"segments": [{"words": [{"word": "x"}]}]})) == 5 < MAX_JSON_DEPTH


@pytest.mark.parametrize(
    "text",
    ["[פתיחה] שלום עולם", "[1] א ב", "[]", '["a"] b', "[פתיחה]\nשלום"],
)
def test_a_plain_text_beginning_with_a_bracket_is_plain_text(text: str) -> None:
    assert split_words(decode_transcript(text.encode())) == split_words(text)


def test_json_shapes_are_still_read_as_json() -> None:
    assert decode_transcript(b'{"text": "[x] y"}') == "[x] y"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("text_key", "a" * 1021 + ".txt", "1025 bytes long; S3 keys are at most 1024"),
        ("text_key", "שם" * 300 + ".txt", "1204 bytes long"),
        ("audio_key", "lecture\x07.mp3", "control character U+0007"),
        ("text_key", "a\nb.txt", "control character U+000A"),
        ("id", "x" * 300_000, "id is 300000 characters long"),
        ("id", "job\r1", "control character U+000D"),
    ],
)
def test_unusable_keys_and_ids_are_refused_in_one_line(field: str, value: str, message: str) -> None:
    body = {"audio_key": "a.mp3", "text_key": "a.txt", field: value}
    with pytest.raises(MessageError, match=re.escape(message)) as caught:
        parse_message(json.dumps(body), Settings())
    assert len(one_line(caught.value)) < 300  # never the whole key or id


def test_an_output_key_past_s3s_limit_is_refused_before_aligning() -> None:
    job = AlignmentJob(audio_key="a.mp3", text_key="a" * 1020 + ".txt")  # 1024 bytes: a valid input
    with pytest.raises(KeyRefused, match="output key is 1025 bytes long"):
        output_keys(job, Settings())
    shorter = AlignmentJob(audio_key="a.mp3", text_key="a" * 1015 + ".txt")  # .json fits, .words.vtt not
    output_keys(shorter, Settings(output_formats="vtt,json"))
    with pytest.raises(KeyRefused, match="output key is 1025 bytes long"):
        output_keys(shorter, Settings(output_formats="vtt,words.vtt,json"))


def s3_event(*keys: str, bucket: str = "final-transcription") -> str:
    records = [
        {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}
        for key in keys
    ]
    return json.dumps({"Records": records})


def test_s3_events_for_other_suffixes_start_no_job() -> None:
    jobs = parse_message(s3_event("a/x.md", "a/x.txt", "a/x.vtt", "a/x.json"), Settings())
    assert [job.text_key for job in jobs] == ["a/x.txt"]
    assert parse_message(s3_event("a/x.vtt"), Settings()) == []  # the worker's own output
    every = Settings(text_key_suffixes="")
    assert len(parse_message(s3_event("a/x.md", "a/x.txt"), every)) == 2


def test_an_explicit_message_names_its_keys_whatever_the_suffix() -> None:
    (job,) = parse_message('{"audio_key": "x.mp3", "text_key": "x.md"}', Settings())
    assert job.text_key == "x.md"


def test_languages_are_checked_against_whispers_own_list() -> None:
    check_language("he", Backend.FASTER_WHISPER)
    check_language("yi", Backend.OPENAI)
    with pytest.raises(UnknownLanguage, match="language 'zz' is not one Whisper"):
        check_language("zz", Backend.FASTER_WHISPER)


def test_both_backends_know_the_same_languages() -> None:
    """One list serves both: openai-whisper's own, read from its tokenizer module alone (importing
    the `whisper` package loads torch and numba: seconds)."""
    spec = importlib.util.find_spec("whisper")
    assert spec is not None and spec.submodule_search_locations
    tokenizer = runpy.run_path(str(Path(spec.submodule_search_locations[0]) / "tokenizer.py"))
    assert set(tokenizer["LANGUAGES"]) == supported_languages()


def test_an_hls_playlist_is_refused_without_opening_what_it_names(tmp_path: Path) -> None:
    playlist = hls_playlist(tmp_path)
    for attempt in (lambda: probe_audio(playlist, "s3://a/lecture.m3u8"), lambda: load_audio(playlist)):
        with pytest.raises(AudioError, match="not a plain audio file") as caught:
            attempt()
        one_line(caught.value)


def test_the_duration_is_read_from_the_header_without_decoding(tmp_path: Path) -> None:
    info = probe_audio(make_audio(tmp_path / "a.mp3", 30))
    assert info.container == "mp3"
    assert info.seconds == pytest.approx(30, abs=0.2)
    assert probe_audio(make_audio(tmp_path / "a.m4a", 2)).container.startswith("mov,mp4")


def test_audio_longer_than_the_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    audio = make_audio(tmp_path / "long.mp3", 400)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    with pytest.raises(AudioError, match="lasts 400 s; MAX_AUDIO_SECONDS is 300") as caught:
        check_audio(audio, "s3://a/long.mp3", Settings(max_audio_seconds=300))
    one_line(caught.value)
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before < 1  # only the header read


def test_decoding_stops_at_the_limit_whatever_the_header_says(tmp_path: Path) -> None:
    audio = make_audio(tmp_path / "long.wav", 100)
    with pytest.raises(AudioError, match="longer than MAX_AUDIO_SECONDS \\(60 s\\)"):
        load_audio(audio, max_seconds=60)
    assert len(load_audio(audio, max_seconds=101)) == 100 * 16_000


def test_a_text_larger_than_the_limit_is_refused_unparsed() -> None:
    with pytest.raises(TranscriptError, match="is 2,000,001 bytes; MAX_TEXT_BYTES is 1,000,000"):
        read_transcript(b"{" * 2_000_001, "s3://t/x.txt", Settings())


def test_more_words_than_the_audio_can_hold_are_refused_naming_both_numbers() -> None:
    with pytest.raises(ImplausibleInput, match=r"20000 words for 2\.8 s of audio \(7142\.9 words/s"):
        check_words_per_second(20_000, 2.8, "s3://t/x.txt", Settings())
    check_words_per_second(150, 60, "s3://t/x.txt", Settings())  # 2.5 words/s: a lecture


def test_check_inputs_reads_the_text_and_probes_the_audio(tmp_path: Path) -> None:
    audio = make_audio(tmp_path / "a.mp3", 10)
    text = tmp_path / "a.txt"
    text.write_text("[פתיחה] שלום עולם\n")
    checked = check_inputs(audio, text, Settings())
    assert checked.text == "[פתיחה] שלום עולם\n" and checked.audio.seconds == pytest.approx(10, abs=0.2)
    with pytest.raises(UnknownLanguage):
        check_inputs(audio, text, Settings(), language="zz")

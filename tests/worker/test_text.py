import json

import pytest

from worker.inputs.text import TranscriptError, decode_transcript, line_ends, split_words


def test_plain_text_keeps_every_word_byte_for_byte() -> None:
    text = 'שָׁלוֹם, עולם!\r\nרבי יוחנן: "אמר".\n'
    decoded = decode_transcript(text.encode())
    assert split_words(decoded) == ["שָׁלוֹם,", "עולם!", "רבי", "יוחנן:", '"אמר".']


def test_byte_order_mark_is_dropped() -> None:
    assert decode_transcript("\ufeffשלום".encode()) == "שלום"


def test_json_text_and_segments_are_accepted() -> None:
    assert decode_transcript(json.dumps({"text": "א ב"}).encode()) == "א ב"
    segments = {"segments": [{"text": " א ב", "start": 0}, {"text": " ג"}]}
    assert decode_transcript(json.dumps(segments, ensure_ascii=False).encode()) == "א ב\nג"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("שלום".encode("cp1255"), "is not UTF-8"),
        (b"", "is empty"),
        (b" \n\t \n", "is empty"),
        (b"abc\x00def", "NUL"),
        (b'{"text": ', "is not JSON"),
        (b'{"title": "x"}', 'without a "text"'),
    ],
)
def test_unusable_transcripts_are_named_in_one_line(data: bytes, message: str) -> None:
    with pytest.raises(TranscriptError, match=message) as caught:
        decode_transcript(data, "s3://t/lecture.txt")
    assert "s3://t/lecture.txt" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_line_ends_mark_the_authors_line_breaks() -> None:
    assert line_ends("א ב\nג\n\nד ה\n") == {1, 2}

"""Resolving a selection: the glob, the cap, folder markers, audio keys; against moto's S3 server."""

from __future__ import annotations

from typing import Any

import pytest
from timestamp_operator.selection import (
    BadAudioKeyTemplate,
    EmptySelection,
    matching_keys,
    resolve_selection,
)
from timestamp_operator.spec import Item, Selection


def selection(**fields: Any) -> Selection:
    return Selection.model_validate({"prefix": "berakhot/", "maxItems": 10, **fields})


def test_the_glob_and_the_cap() -> None:
    keys = ["berakhot/", "berakhot/002.txt", "berakhot/002.vtt", "berakhot/003.txt", "berakhot/old/004.txt"]
    assert matching_keys(keys, selection()) == (
        ["berakhot/002.txt", "berakhot/003.txt", "berakhot/old/004.txt"],
        False,
    )
    assert matching_keys(keys, selection(pattern="berakhot/0*.txt", maxItems=1)) == (
        ["berakhot/002.txt"],
        True,
    )
    assert matching_keys(keys, selection(pattern="*.vtt")) == (["berakhot/002.vtt"], False)


def test_listing_stops_once_the_cap_is_known_to_be_exceeded() -> None:
    seen = []

    def keys() -> Any:
        for n in range(1000):
            seen.append(n)
            yield f"berakhot/{n:03}.txt"

    assert matching_keys(keys(), selection(maxItems=3)) == ([f"berakhot/{n:03}.txt" for n in range(3)], True)
    assert len(seen) == 4


def test_resolving_against_s3(s3_endpoint: Any) -> None:
    bucket = s3_endpoint.bucket
    for key in ["berakhot/003.txt", "berakhot/002.txt", "berakhot/002.json", "shabbat/002.txt"]:
        s3_endpoint.put_object(Bucket=bucket, Key=key, Body=b"text")
    resolved = resolve_selection(s3_endpoint, bucket, selection(), "audio/{name}.mp3")
    assert resolved.items == [
        Item(audio_key="audio/002.mp3", text_key="berakhot/002.txt"),
        Item(audio_key="audio/003.mp3", text_key="berakhot/003.txt"),
    ]
    assert not resolved.truncated
    default = resolve_selection(s3_endpoint, bucket, selection(maxItems=1), "{stem}.mp3")
    assert (
        default.items == [Item(audio_key="berakhot/002.mp3", text_key="berakhot/002.txt")]
        and default.truncated
    )


def test_an_empty_selection_is_an_error(s3_endpoint: Any) -> None:
    with pytest.raises(EmptySelection, match=r"no key in s3://.*/nothing/ with pattern"):
        resolve_selection(s3_endpoint, s3_endpoint.bucket, selection(prefix="nothing/"), "{stem}.mp3")


def test_a_bad_audio_key_template_is_an_error(s3_endpoint: Any) -> None:
    s3_endpoint.put_object(Bucket=s3_endpoint.bucket, Key="berakhot/002.txt", Body=b"text")
    with pytest.raises(BadAudioKeyTemplate, match="AUDIO_KEY_TEMPLATE"):
        resolve_selection(s3_endpoint, s3_endpoint.bucket, selection(), "{masechet}.mp3")

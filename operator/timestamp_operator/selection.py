"""Resolving a selection (an S3 prefix, a glob, a maximum count) into the run's items.

Keys are listed from the text bucket in S3's order (UTF-8 binary, i.e. sorted), filtered by the
glob, and the first `maxItems` are taken; the audio key of each comes from the worker's own
`AUDIO_KEY_TEMPLATE` rule, so a run aligns exactly what an S3 event for that text would. Listing
stops as soon as one key more than `maxItems` has matched (that only tells that the selection was
truncated). This runs once per run: the result is recorded in the run's ConfigMap.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from timestamp_operator.spec import Item, Selection
from worker.cloud.messages import MessageError, derive_audio_key


class EmptySelection(ValueError):
    """No key matched: the run cannot do anything (permanent)."""


class BadAudioKeyTemplate(ValueError):
    """The operator's AUDIO_KEY_TEMPLATE is invalid (a configuration error, permanent for the run)."""


@dataclass(frozen=True)
class Resolved:
    items: list[Item]
    truncated: bool  # more keys matched than maxItems


def matching_keys(keys: Any, selection: Selection) -> tuple[list[str], bool]:
    """The first `maxItems` keys matching the glob (skipping folder markers), and whether more matched."""
    chosen: list[str] = []
    for key in keys:
        if key.endswith("/") or not fnmatch.fnmatchcase(key, selection.pattern):
            continue
        if len(chosen) == selection.max_items:
            return chosen, True
        chosen.append(key)
    return chosen, False


def _listed_keys(s3: Any, bucket: str, prefix: str) -> Any:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", ()):
            yield entry["Key"]


def resolve_selection(s3: Any, bucket: str, selection: Selection, audio_key_template: str) -> Resolved:
    """List `bucket` (boto3 S3 client `s3`, blocking: call it in a thread) and build the items.

    Raises EmptySelection, BadAudioKeyTemplate, or botocore's errors (worth retrying later).
    """
    keys, truncated = matching_keys(_listed_keys(s3, bucket, selection.prefix), selection)
    if not keys:
        raise EmptySelection(
            f"selection matched no key in s3://{bucket}/{selection.prefix} with pattern {selection.pattern!r}"
        )
    try:
        items = [Item(audio_key=derive_audio_key(key, audio_key_template), text_key=key) for key in keys]
    except MessageError as error:
        raise BadAudioKeyTemplate(str(error)) from error
    return Resolved(items=items, truncated=truncated)

"""What an S3 key or a job id may be: S3's 1024-byte limit, and no control characters.

S3 accepts control characters in keys, but they cannot travel in an SQS message attribute (the
dead-letter `error`) and break logs and XML listings; a job naming one is refused before it starts.
The id is echoed in every notice, so it is capped too.
"""

from __future__ import annotations

import unicodedata

MAX_KEY_BYTES = 1024  # S3's limit on an object key, in UTF-8 bytes
MAX_ID_CHARS = 256


class KeyRefused(ValueError):
    """An S3 key or id that cannot be used; the message names it (shortened) and the reason."""


def shown(value: str, limit: int = 80) -> str:
    """A value as it may appear in a one-line error: repr'd (control characters escaped), shortened."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 10]}…' ({len(value.encode())} bytes)"


def _control(value: str) -> str | None:
    return next((c for c in value if unicodedata.category(c) in ("Cc", "Cs")), None)


def check_key(key: str, what: str) -> None:
    """Refuse a key longer than S3 allows or holding a control character."""
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES:
        raise KeyRefused(f"{what} is {size} bytes long; S3 keys are at most {MAX_KEY_BYTES} bytes")
    if (bad := _control(key)) is not None:
        raise KeyRefused(f"{what} {shown(key)} contains the control character U+{ord(bad):04X}")


def check_id(value: str) -> None:
    if len(value) > MAX_ID_CHARS:
        raise KeyRefused(f"id is {len(value)} characters long (at most {MAX_ID_CHARS})")
    if (bad := _control(value)) is not None:
        raise KeyRefused(f"id {shown(value)} contains the control character U+{ord(bad):04X}")

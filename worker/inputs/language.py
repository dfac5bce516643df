"""The languages Whisper really knows, checked before a job starts.

stable-ts fails on an unknown code deep inside its own error path (an AttributeError from
`language: zz`); Whisper's own tokenizer list turns that into one line naming the code. Both backends
share that list (faster-whisper's copy equals openai-whisper's `LANGUAGES`, whose import alone takes
seconds: tests/worker/test_input_checks.py compares them).
"""

from __future__ import annotations

from functools import cache

from worker.settings import Backend


class UnknownLanguage(ValueError):
    """A language code the backend does not support."""


@cache
def supported_languages() -> frozenset[str]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES  # the list faster-whisper itself checks

    return frozenset(_LANGUAGE_CODES)


def check_language(code: str, backend: Backend) -> None:
    if code not in supported_languages():
        raise UnknownLanguage(f"language {code!r} is not one Whisper ({backend.value}) knows")

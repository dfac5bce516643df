"""Reading the corrected transcript: the one input that must reach the outputs word for word.

Accepted forms (decided by content, not by file extension):
- UTF-8 plain text, any line breaks (a byte-order mark is dropped);
- a JSON transcript: `{"text": "..."}`, or a Whisper/stable-ts result `{"segments": [{"text": ...}, ...]}`
  (segment texts are joined with line breaks).
Both JSON shapes are objects, so a text beginning with `[` (`[פתיחה] שלום…`, a section heading common
in corrected transcripts) is plain text; one beginning with `{` must parse as one of the shapes.
A "word" is a maximal run of non-whitespace characters, punctuation included, exactly as written.
"""

from __future__ import annotations

import re

from worker.inputs.jsondoc import JsonError, load_json

_WORD = re.compile(r"\S+")


class TranscriptError(ValueError):
    """The transcript cannot be used (undecodable, malformed or empty)."""


def decode_transcript(data: bytes, name: str = "transcript") -> str:
    """The transcript's text, from the bytes of a text or JSON file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise TranscriptError(f"{name} is not UTF-8 text (byte {error.start})") from error
    if text.lstrip().startswith("{"):
        text = _text_of_json(text, name)
    if "\x00" in text:
        raise TranscriptError(f"{name} contains NUL bytes: not a text file")
    if not split_words(text):
        raise TranscriptError(f"{name} is empty: no words to align")
    return text


def _text_of_json(raw: str, name: str) -> str:
    try:
        document = load_json(raw, f"{name} (it begins with {{)")
    except JsonError as error:
        raise TranscriptError(str(error)) from error
    if isinstance(document, dict) and isinstance(document.get("segments"), list):
        texts = [segment.get("text") for segment in document["segments"] if isinstance(segment, dict)]
        if all(isinstance(text, str) for text in texts):
            return "\n".join(str(text).strip() for text in texts)
    if isinstance(document, dict) and isinstance(document.get("text"), str):
        return str(document["text"])
    raise TranscriptError(f'{name} is JSON without a "text" string or "segments" with texts')


def split_words(text: str) -> list[str]:
    return _WORD.findall(text)


def line_ends(text: str) -> frozenset[int]:
    """Indexes of the words followed by a line break: the author's own cue boundaries."""
    ends = set()
    matches = list(_WORD.finditer(text))
    for index, (word, following) in enumerate(zip(matches, [*matches[1:], None], strict=True)):
        gap = text[word.end() : following.start() if following else len(text)]
        if "\n" in gap and following is not None:
            ends.add(index)
    return frozenset(ends)

"""Parsing untrusted JSON (message bodies, transcripts) without recursing into a hostile document.

Python's json module recurses once per level of nesting: a body of 100,000 `[` raises RecursionError
(and whatever walks the result afterwards may too). The depth is measured on the raw text first, with
the strings removed, so a document nested deeper than MAX_JSON_DEPTH is refused in one line before
anything recurses into it. A stable-ts result (segments, words) is nested 5 deep.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_JSON_DEPTH = 32
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class JsonError(ValueError):
    """Not JSON, or nested deeper than MAX_JSON_DEPTH; the message says which, in one line."""


def nesting_depth(raw: str) -> int:
    """The deepest nesting of arrays and objects in `raw` (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRING.sub("", raw)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def load_json(raw: str, what: str) -> Any:
    """`raw` parsed, or JsonError naming `what` (e.g. "message body") and the problem."""
    depth = nesting_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise JsonError(f"{what} is JSON nested {depth} levels deep (at most {MAX_JSON_DEPTH} accepted)")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise JsonError(f"{what} is not JSON: {error.msg} at {where}") from error

"""Reading JSON that anyone can send: bounded before it is parsed, and clean after.

- depth: nesting beyond MAX_DEPTH is refused before the parser sees it (Python's parser would
  recurse until it overflows);
- numbers: NaN, Infinity and numbers too large for a double are refused (PostgreSQL's jsonb
  refuses them, and no peer of ours sends them);
- text: NUL characters are dropped and lone UTF-16 surrogates replaced (PostgreSQL's text and
  jsonb refuse them), so a message is never lost to a stray byte.

A refusal is `InvalidJSON` with one human line (a 400 for the caller, never a 500)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 32
# What `clean` would change: a NUL or a UTF-16 surrogate, written as a JSON escape or, in text
# handed in as str, as the character itself. Most bodies have neither and are not walked.
_UNCLEAN = re.compile(r"\\u(?:0000|[dD][89a-fA-F])|[\x00\ud800-\udfff]")


class InvalidJSON(ValueError):
    """Not JSON we accept; the message says why."""


def clean(value: Any) -> Any:
    """JSON as PostgreSQL can store it: no NUL characters, no lone surrogates."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(str(key)): clean(item) for key, item in value.items()}
    return value


def clean_text(text: str) -> str:
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _too_deep(raw: str, limit: int) -> bool:
    if raw.count("[") + raw.count("{") <= limit:  # cannot nest deeper: no need to walk it
        return False
    depth = 0
    in_string = escaped = False
    for char in raw:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _refuse_constant(name: str) -> Any:
    raise InvalidJSON(f"{name} is not a number we accept")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise InvalidJSON(f"the number {text[:20]} is too large")
    return number


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse, bounded and cleaned (see the module's docstring)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise InvalidJSON("the body is not UTF-8") from None
    if _too_deep(text, max_depth):
        raise InvalidJSON(f"JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise InvalidJSON(f"malformed JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:  # a shape the depth scan did not foresee
        raise InvalidJSON(f"JSON nested deeper than {max_depth} levels") from None
    return clean(value) if _UNCLEAN.search(text) else value

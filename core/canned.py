"""Managers' saved replies (`/t NAME` in a customer's topic): what a name and a text may be, and
the text as the customer gets it, with `{customer_name}` (and `{client_name}`) filled in."""

from __future__ import annotations

import re
import string

NAME_LIMIT = 40
TEXT_LIMIT = 4000
PLACEHOLDERS = frozenset({"customer_name", "client_name"})
_NAME = re.compile(r"^[\w-]+$")
# What an empty customer name leaves behind: "Здравствуйте, !" → "Здравствуйте!",
# "{customer_name}, добрый день" → "добрый день" (then capitalised).
_EMPTY_NAME_LEFTOVERS = ((re.compile(r"[ \t]*,[ \t]*(?=[!?.,)]|$)", re.M), ""),
                         (re.compile(r"^[ \t]*,[ \t]*", re.M), ""),
                         (re.compile(r"[ \t]{2,}"), " "),
                         (re.compile(r"[ \t]+(?=[!?.,)])"), ""))


class InvalidReply(ValueError):
    """A name or text that cannot be saved; the message says why."""


def check_name(name: str) -> str:
    """The name as stored (lower-case): 1–40 letters (any alphabet), digits, _ or -."""
    normalized = name.strip().lower()
    if not normalized or len(normalized) > NAME_LIMIT or not _NAME.match(normalized):
        raise InvalidReply(f"a reply name is 1–{NAME_LIMIT} letters, digits, _ or - (got {name!r})")
    return normalized


def check_text(text: str) -> str:
    """The text as stored; placeholders other than {customer_name} and {client_name} are
    refused now rather than sent to a customer later."""
    text = text.strip()
    if not text or len(text) > TEXT_LIMIT:
        raise InvalidReply(f"a reply text is 1–{TEXT_LIMIT} characters")
    try:
        fields = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as exc:
        raise InvalidReply(f"the text is not a valid template: {exc} (write {{{{ for a brace)") \
            from None
    unknown = fields - PLACEHOLDERS
    if unknown:
        raise InvalidReply(f"unknown placeholder {{{sorted(unknown)[0]}}}; "
                           f"known: {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))}")
    return text


def render(text: str, *, customer_name: str | None, client_name: str) -> str:
    """The reply as sent. Without the customer's name the placeholder is dropped and the
    punctuation around it tidied."""
    name = " ".join((customer_name or "").split())
    try:
        rendered = text.format(customer_name=name, client_name=client_name)
    except (KeyError, IndexError, ValueError):  # saved around `check_text`: sent as written
        return text.strip()
    if not name and "{customer_name}" in text:
        for pattern, replacement in _EMPTY_NAME_LEFTOVERS:
            rendered = pattern.sub(replacement, rendered)
        rendered = rendered.strip()
        return rendered[:1].upper() + rendered[1:]
    return rendered.strip()

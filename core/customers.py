"""Finding a customer from the desk (`/find <phone or name>`): what the query means, and what a
match shows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from core.models import State

MIN_PHONE_DIGITS = 3
MIN_NAME_CHARS = 2
QUERY_LIMIT = 100
KZ_NUMBER_DIGITS = 11
_PHONE = re.compile(r"^[\d\s()+\-.]+$")


@dataclass(frozen=True, slots=True)
class CustomerQuery:
    """Digits to find in phone numbers, or a piece of a name (case-insensitive)."""

    phone_digits: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerMatch:
    conversation_id: UUID
    name: str | None
    phone: str | None
    state: State
    last_message_at: datetime | None


def parse_query(text: str) -> CustomerQuery | None:
    """"+7 701 123-45-67" → phone digits; "Айгерим" → a name; None when too short to search
    (at least 3 digits or 2 letters) or too long."""
    text = " ".join(text.split())
    if not text or len(text) > QUERY_LIMIT:
        return None
    if _PHONE.match(text):
        digits = re.sub(r"\D", "", text)
        if len(digits) == KZ_NUMBER_DIGITS and digits.startswith("8"):
            digits = "7" + digits[1:]  # 8 701 … is how a number is dialled inside Kazakhstan
        return CustomerQuery(phone_digits=digits) if len(digits) >= MIN_PHONE_DIGITS else None
    return CustomerQuery(name=text) if len(text) >= MIN_NAME_CHARS else None

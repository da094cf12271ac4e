"""The flood shield (issue 11 item 6): what one customer's turn may carry, so that one customer
pasting hundreds of long messages neither stalls the others nor costs a giant prompt.

- A turn takes at most `max_events_per_turn` of the customer's waiting messages, and stops
  before the one that would take its text past `max_turn_chars`; the rest wait for the next
  turn, in order (deferred). The bot reads at most `max_turn_chars` characters of a turn (one
  longer message is read up to the cap and stored whole).
- A customer who sent more than `messages_per_minute` messages within a minute floods (counted
  in the minute up to their latest waiting message, so a backlog left by a flood is still
  one): their waiting messages are merged (a turn takes up to `max_events_per_turn` of them whatever their
  length, the bot reads the first `max_turn_chars` characters), and they get one "please wait"
  note per flood.

Every message is stored and goes into the history; the embedder and the LLM see one capped
text per turn. Per-client values (client settings, NULL = the process default) are validated
against `RANGES`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from core.models import ClientSettings, InboundMessage

# name of the client setting: (lowest, highest) accepted
RANGES: dict[str, tuple[int, int]] = {
    "flood_messages_per_minute": (1, 600),
    "max_turn_chars": (200, 20_000),
    "max_events_per_turn": (1, 100),
}


@dataclass(frozen=True, slots=True)
class TurnLimits:
    messages_per_minute: int = 20
    max_turn_chars: int = 4000
    max_events_per_turn: int = 20

    def for_client(self, settings: ClientSettings) -> TurnLimits:
        """These defaults with the client's own values over them."""
        return replace(self, **{
            name: value for name, value in (
                ("messages_per_minute", settings.flood_messages_per_minute),
                ("max_turn_chars", settings.max_turn_chars),
                ("max_events_per_turn", settings.max_events_per_turn),
            ) if value is not None})


DEFAULT_LIMITS = TurnLimits()


def check_limit(name: str, value: object) -> int | None:
    """A per-client limit as given (None: back to the default), or ValueError naming it."""
    if value is None:
        return None
    low, high = RANGES[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number between {low} and {high}")
    return value


def turn_text(messages: Sequence[InboundMessage], max_chars: int) -> str:
    """What the bot reads of a turn: the messages' texts, one a line, cut at `max_chars`."""
    return "\n".join(m.text for m in messages if m.text).strip()[:max_chars].strip()

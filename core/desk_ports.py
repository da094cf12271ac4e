"""The manager desk's ports (part of `core.ports`, which imports them from here: every port is
reached as `core.ports.X`): what the desk reads and records outside the pipeline's transactions
(`DeskRecords`), and the log of updates received from the messenger (`UpdateLog`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from core.customers import CustomerMatch, CustomerQuery
from core.models import Conversation, Handover, HistoryLine
from core.outbound import OutboundMessage
from core.reports import ReportFigures

if TYPE_CHECKING:
    from core.ports import AuditEntry  # core.ports imports this module



@dataclass(frozen=True, slots=True)
class CardContext:
    """Everything a request card shows, and where it goes."""

    handover: Handover
    conversation: Conversation
    customer_name: str | None
    phone: str | None
    group_chat_id: int | None  # the branch's group, else the client's


class DeskRecords(Protocol):
    """What the manager desk reads and records outside the pipeline's transactions. The writes
    that record an effect already made in Telegram (a topic, a card) ride out a short database
    blip: losing them would make the effect again."""

    async def handover(self, handover_id: UUID) -> Handover | None: ...
    async def conversation(self, conversation_id: UUID) -> Conversation | None: ...
    async def card_context(self, handover_id: UUID) -> CardContext | None: ...
    async def history(self, conversation_id: UUID, limit: int) -> list[HistoryLine]: ...

    async def group_chat_id(self, conversation_id: UUID) -> int | None:
        """The group a conversation's topic belongs in: its branch's, else the client's."""
        ...

    async def customer_label(self, conversation_id: UUID) -> tuple[str | None, str | None]: ...
    async def conversation_by_topic(self, client_id: UUID, chat_id: int,
                                    topic_id: int) -> Conversation | None: ...

    async def handover_chat(self, handover_id: UUID) -> tuple[UUID, int | None] | None:
        """(client id, the group of its topic): where a button of this handover may come from."""
        ...

    async def set_topic(self, conversation_id: UUID, chat_id: int, topic_id: int, *,
                        repost_card: bool) -> None:
        """Record the customer's (new) topic; with `repost_card`, queue the card of an open
        request that was posted in the old topic again, in the same transaction."""
        ...

    async def set_card_message(self, handover_id: UUID, message_id: int) -> None: ...
    async def ensure_webhook_secret(self, client_id: UUID) -> str: ...
    async def learned_before(self, handover_id: UUID) -> bool: ...

    async def knowledge_tag(self, conversation_id: UUID) -> str | None: ...  # of its branch
    async def record(self, client_id: UUID, *, audit: AuditEntry | None = None,
                     message: OutboundMessage | None = None, key: str | None = None) -> None:
        """An audit entry and/or one delivery, in one transaction."""
        ...

    async def is_desk_group(self, client_id: UUID, chat_id: int) -> bool:
        """Whether `chat_id` is the client's group or a branch's: desk commands are answered
        only there (they show customers' data)."""
        ...

    async def find_customers(self, client_id: UUID, chat_id: int, query: CustomerQuery,
                             limit: int) -> list[CustomerMatch]:
        """The client's WhatsApp customers whose topics belong in the group `chat_id`, matching
        the query, most recently active first."""
        ...

    async def canned_replies(self, client_id: UUID) -> dict[str, str]:
        """The managers' saved replies of the client, name → text."""
        ...

    async def figures(self, client_id: UUID, start: datetime, end: datetime) -> ReportFigures:
        """The owner's figures of [start, end) (`/stats`)."""
        ...


@dataclass(frozen=True, slots=True)
class ClaimedUpdate:
    client_id: UUID
    payload: dict[str, Any]
    attempt: int


class UpdateLog(Protocol):
    """Updates received from a messenger, stored before they are handled, leased while handled."""

    async def remember(self, client_id: UUID, update_id: int, payload: dict[str, Any]) -> bool:
        """Store a received update; False when it was received before."""
        ...

    async def claim(self, client_id: UUID, update_id: int, lease: timedelta) -> int | None:
        """The attempt's number, or None when it is handled already or leased elsewhere."""
        ...

    async def renew(self, client_id: UUID, update_id: int, attempt: int,
                    lease: timedelta) -> bool:
        """The lease of attempt `attempt` runs `lease` from now; False when that attempt no
        longer holds the update (handled, or taken over by a later attempt)."""
        ...

    async def mark_processed(self, client_id: UUID, update_id: int) -> None: ...
    async def claim_stale(self, older_than: timedelta, lease: timedelta,
                          limit: int = 100) -> list[ClaimedUpdate]: ...
    async def prune(self, older_than: timedelta) -> int: ...

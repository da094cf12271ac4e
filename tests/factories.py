"""Rows for tests, through the real repositories where they exist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from core.models import Client, InboundMessage
from storage.repositories import clients, inbox
from storage.repositories.inbox import NewEvent

WEBHOOK_SECRET = "webhook-secret-0123456789"


async def make_client(db: asyncpg.Pool, slug: str = "demo_salon", **settings: Any) -> Client:
    settings.setdefault("webhook_secret", WEBHOOK_SECRET)
    settings.setdefault("chatflow_token", f"cf-token-{slug}")
    settings.setdefault("chatflow_instance_id", f"inst-{slug}")
    async with db.acquire() as conn:
        return await clients.create(conn, slug, f"Client {slug}", **settings)


async def accept_event(db: asyncpg.Pool, *, client_id: UUID, branch_id: UUID | None, channel: str,
                       remote_jid: str, name: str | None, provider_message_id: str,
                       payload: dict[str, Any], debounce: float) -> tuple[UUID, int | None]:
    """An inbound event as a webhook stores it (customer, conversation, event and queue entry);
    the event id is None for a duplicate."""
    (result,) = await inbox.accept_many(db, [NewEvent(client_id, branch_id, channel, remote_jid,
                                                      name, provider_message_id, payload, debounce)])
    return result


async def make_conversation(db: asyncpg.Pool, client_id: UUID, jid: str = "77011234567@s.whatsapp.net",
                            **fields: Any) -> UUID:
    user_id = await db.fetchval(
        "INSERT INTO users (client_id, remote_jid, phone) VALUES ($1, $2, $3) RETURNING id",
        client_id, jid, jid.split("@")[0],
    )
    columns = ["client_id", "user_id", *fields]
    values = [client_id, user_id, *fields.values()]
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    return await db.fetchval(
        f"INSERT INTO conversations ({', '.join(columns)}) VALUES ({placeholders}) RETURNING id",
        *values,
    )


def incoming(text: str, message_type: str = "text", media: dict[str, Any] | None = None, *,
             provider_message_id: str) -> InboundMessage:
    """A customer message as the pipeline gets it (for tests that drive the pipeline directly)."""
    return InboundMessage(provider_message_id=provider_message_id,
                          remote_jid="77011234567@s.whatsapp.net", text=text,
                          message_type=message_type, media=media)


@dataclass
class ManualClock:
    """A `core.ports.Clock` the test sets (`clock.at = …`)."""

    at: datetime

    def now(self) -> datetime:
        return self.at

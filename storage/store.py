"""The persistence ports on PostgreSQL: `Store` (a transaction with the repositories bound to
its connection), `Tenants`, `Inbox` and `DeliveryProgress`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

import asyncpg

from core.delivery import Delivery
from core.inbound import record
from core.models import Branch, Client, InboundMessage
from core.ports import Accepted, AnsweredTurn
from storage import retry
from storage.group_commit import GroupCommit
from storage.repositories import clients, inbox, outbox, turns
from storage.repositories.audit import AuditRepo
from storage.repositories.conversations import ConversationsRepo, MessagesRepo, upsert_customer
from storage.repositories.handovers import HandoversRepo
from storage.repositories.inbox import InboxRepo, NewEvent
from storage.repositories.outbox import DEFAULT_REPLY_RETRY, LocalLease, OutboxRepo


class PgTx:
    def __init__(self, conn: asyncpg.Connection, *, reply_retry: timedelta,
                 local: LocalLease | None = None) -> None:
        self._conn = conn
        self._now: datetime | None = None
        self.conversations = ConversationsRepo(conn, saw_now=self._saw_now)
        self.messages = MessagesRepo(conn)
        self.handovers = HandoversRepo(conn)
        self.outbox = OutboxRepo(conn, reply_retry=reply_retry, local=local)
        self.audit = AuditRepo(conn)
        self.inbox = InboxRepo(conn)

    async def now(self) -> datetime:
        """The transaction's own clock (the database's), the same one the queues use; read
        once (it is the transaction's start, whatever the statement), or seen already along
        with a conversation."""
        if self._now is None:
            self._now = await self._conn.fetchval("SELECT now()")
        return self._now

    def _saw_now(self, now: datetime) -> None:
        self._now = now


# Told, once a transaction has committed, of the outbox rows it wrote leased to this process.
HandOver = Callable[[list[Delivery]], None]


class PgStore:
    def __init__(self, pool: asyncpg.Pool, *, reply_retry: timedelta = DEFAULT_REPLY_RETRY) -> None:
        """`reply_retry`: how long a bot reply's delivery is retried (REPLY_RETRY_MINUTES)."""
        self._pool = pool
        self._reply_retry = reply_retry
        self._local: LocalLease | None = None
        self._hand_over: HandOver | None = None

    def deliver_locally(self, local: LocalLease, hand_over: HandOver) -> None:
        """From now on the outbox rows a transaction writes for a channel `local` takes are
        written leased to this process and handed to `hand_over` once committed: a reply goes
        out without waiting for a notification and a claim (the outbox stays the safety net)."""
        self._local, self._hand_over = local, hand_over

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgTx]:
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                tx = PgTx(conn, reply_retry=self._reply_retry, local=self._local)
                yield tx
        self._hand_over_leased(tx.outbox.leased)

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[PgTx]:
        """A pooled connection outside any transaction, for reads (each statement its own
        snapshot): no BEGIN and COMMIT round trips."""
        async with self._pool.acquire() as conn:
            yield PgTx(conn, reply_retry=self._reply_retry)

    async def record_answer(self, turn: AnsweredTurn) -> bool:
        recorded, leased = await turns.record_answer(self._pool, turn, reply_retry=self._reply_retry,
                                                     local=self._local)
        self._hand_over_leased([leased] if leased is not None else [])
        return recorded

    def _hand_over_leased(self, deliveries: list[Delivery]) -> None:
        """Committed rows written leased to this process go to its sender (`deliver_locally`)."""
        if deliveries and self._hand_over is not None:
            self._hand_over(deliveries)


class PgTenants:
    """Tenant configuration, read fresh each time so that changes apply without a restart."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def client(self, client_id: UUID) -> Client | None:
        return await clients.by_id(self._pool, client_id)

    async def client_by_slug(self, slug: str) -> Client | None:
        return await clients.by_slug(self._pool, slug)

    async def all_clients(self) -> list[Client]:
        return await clients.list_all(self._pool)

    async def branch(self, branch_id: UUID) -> Branch | None:
        return await clients.branch_by_id(self._pool, branch_id)

    async def resolve_branch(self, client: Client, instance_id: str | None) -> Branch | None:
        return await clients.resolve_branch(self._pool, client, instance_id)

    async def system_prompt(self, client_id: UUID) -> str | None:
        return await clients.active_prompt(self._pool, client_id)


class PgInbox:
    def __init__(self, pool: asyncpg.Pool, *, group_commit: bool = False) -> None:
        """`group_commit`: webhooks arriving together share one commit (a serving process)."""
        self._pool = pool
        self._group: GroupCommit[NewEvent, tuple[UUID, int | None]] | None = (
            GroupCommit(partial(inbox.accept_many, pool), what="inbound events")
            if group_commit else None)

    async def accept(self, client: Client, branch: Branch | None, message: InboundMessage,
                     raw: Any = None) -> Accepted:
        event = NewEvent(client.id, branch.id if branch else None, message.channel,
                         message.remote_jid, message.sender_name, message.provider_message_id,
                         record(message, raw), client.settings.debounce_seconds)
        if self._group is not None:
            conversation_id, event_id = await self._group.submit(event)
        else:
            ((conversation_id, event_id),) = await inbox.accept_many(self._pool, [event])
        return Accepted(conversation_id, event_id)


    async def conversation_for(self, client: Client, branch: Branch | None, remote_jid: str, *,
                               name: str | None = None, channel: str = "whatsapp") -> UUID:
        async with self._pool.acquire() as conn, conn.transaction():
            _, conversation_id = await upsert_customer(
                conn, client.id, remote_jid, name, branch_id=branch.id if branch else None,
                channel=channel)
        return conversation_id


class PgDeliveryProgress:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, delivery_id: int, progress: dict[str, Any]) -> None:
        """Retried through a database blip: the pieces recorded are not posted again."""
        await retry.record(lambda: outbox.record_progress(self._pool, delivery_id, progress),
                           what="delivery progress")

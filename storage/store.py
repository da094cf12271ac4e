"""The Store port on PostgreSQL: a transaction with the repositories bound to its connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from uuid import UUID

import asyncpg

from core.models import Branch, Client
from storage.repositories import clients
from storage.repositories.audit import AuditRepo
from storage.repositories.conversations import ConversationsRepo, MessagesRepo
from storage.repositories.handovers import HandoversRepo
from storage.repositories.inbox import InboxRepo
from storage.repositories.outbox import OutboxRepo


class PgTx:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.conversations = ConversationsRepo(conn)
        self.messages = MessagesRepo(conn)
        self.handovers = HandoversRepo(conn)
        self.outbox = OutboxRepo(conn)
        self.audit = AuditRepo(conn)
        self.inbox = InboxRepo(conn)

    async def now(self) -> datetime:
        """The transaction's own clock (the database's), the same one the queues use."""
        return await self.conn.fetchval("SELECT now()")


class PgStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgTx]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield PgTx(conn)


class PgTenants:
    """Tenant configuration, read fresh each time so that changes apply without a restart."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def client(self, client_id: UUID) -> Client | None:
        return await clients.by_id(self._pool, client_id)

    async def branch(self, branch_id: UUID) -> Branch | None:
        return await clients.branch_by_id(self._pool, branch_id)

    async def system_prompt(self, client_id: UUID) -> str | None:
        return await clients.active_prompt(self._pool, client_id)

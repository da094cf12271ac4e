"""The audit log of manager, operator and system actions."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from core.ports import AuditEntry


class AuditRepo:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def record(self, client_id: UUID | None, entry: AuditEntry) -> None:
        await self._conn.execute(
            """INSERT INTO audit_log (client_id, actor_type, actor_id, actor_name, action,
                                      handover_id, conversation_id, details)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            client_id, entry.actor_type, entry.actor_id, entry.actor_name, entry.action,
            entry.handover_id, entry.conversation_id, entry.details,
        )

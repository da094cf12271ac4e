"""The audit log of manager, operator and system actions."""

from __future__ import annotations

from typing import Any
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


async def latest(pool: asyncpg.Pool, client_slug: str | None, limit: int) -> list[dict[str, Any]]:
    """The latest manager, operator and system actions (of one client, or all)."""
    rows = await pool.fetch(
        """SELECT a.created_at, c.slug AS client, a.actor_type, a.actor_id, a.actor_name, a.action,
                  a.handover_id, a.conversation_id, a.details
             FROM audit_log a LEFT JOIN clients c ON c.id = a.client_id
            WHERE $1::text IS NULL OR c.slug = $1
            ORDER BY a.id DESC LIMIT $2""",
        client_slug, limit)
    return [dict(r) for r in rows]

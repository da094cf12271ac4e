"""Managers' saved replies per client (`canned_replies`): the desk reads them, the operator
(CLI, admin API) manages them. Names and texts arrive checked (`core.canned`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

Executor = asyncpg.Connection | asyncpg.Pool


async def list_all(db: Executor, client_id: UUID) -> list[dict[str, Any]]:
    rows = await db.fetch(
        """SELECT name, text, created_at, updated_at FROM canned_replies
            WHERE client_id = $1 ORDER BY name""", client_id)
    return [dict(r) for r in rows]


async def put(db: Executor, client_id: UUID, name: str, text: str) -> bool:
    """Save a reply; True when it is new, False when it replaced one."""
    return await db.fetchval(
        """INSERT INTO canned_replies (client_id, name, text) VALUES ($1, $2, $3)
           ON CONFLICT (client_id, name) DO UPDATE SET text = EXCLUDED.text, updated_at = now()
           RETURNING xmax = 0""",
        client_id, name, text)


async def delete(db: Executor, client_id: UUID, name: str) -> bool:
    result = await db.execute("DELETE FROM canned_replies WHERE client_id = $1 AND name = $2",
                              client_id, name)
    return result.split()[-1] != "0"

"""The self-heal's search: conversations whose state does not match their open handover
(PRODUCT.md §3). Repairs go through `core.heal.repair`, which re-checks each one under lock."""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def suspects(db: asyncpg.Connection | asyncpg.Pool, *, limit: int = 1000) -> list[UUID]:
    """Conversations that break an invariant, in one consistent snapshot (oldest change first)."""
    rows = await db.fetch(
        """SELECT c.id
             FROM conversations c
             LEFT JOIN handovers h ON h.conversation_id = c.id AND h.status IN ('pending', 'active')
            WHERE NOT ((c.state = 'bot_active' AND h.id IS NULL)
                    OR (c.state = 'pending' AND coalesce(h.status, '') = 'pending')
                    OR (c.state = 'manager_active' AND coalesce(h.status, '') = 'active'
                        AND c.telegram_topic_id IS NOT NULL))
            ORDER BY c.updated_at
            LIMIT $1""",
        limit,
    )
    return [r["id"] for r in rows]

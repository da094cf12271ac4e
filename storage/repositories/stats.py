"""Counts for /db-check and metrics."""

from __future__ import annotations

import asyncpg


async def row_counts(db: asyncpg.Pool | asyncpg.Connection) -> dict[str, int]:
    row = await db.fetchrow(
        """SELECT (SELECT count(*) FROM clients) AS clients,
                  (SELECT count(*) FROM conversations) AS conversations,
                  (SELECT count(*) FROM messages) AS messages,
                  (SELECT count(*) FROM handovers WHERE status <> 'resolved') AS open_handovers,
                  (SELECT count(*) FROM inbound_events WHERE status IN ('queued', 'processing'))
                      AS inbound_queue,
                  (SELECT count(*) FROM outbox WHERE status IN ('pending', 'processing'))
                      AS outbox_queue,
                  (SELECT count(*) FROM outbox WHERE status = 'failed') AS outbox_failed"""
    )
    return dict(row)

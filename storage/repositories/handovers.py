"""Handovers: requests for a manager."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from core.models import Handover, HandoverStatus, Resolution, TriggerType
from core.reminders import Due

_UPDATABLE = {"status", "assigned_to", "assigned_to_name", "skipped_by", "telegram_message_id",
              "manager_response", "resolution", "taken_at", "resolved_at", "reminder_1_sent_at",
              "reminder_2_sent_at", "rating", "rating_asked_at", "rated_at"}

# A claim is a conditional UPDATE that only one transaction can win (the row lock serialises
# them, the loser re-reads the row and no longer matches).
_REMINDER_CLAIMS = {
    Due.REMINDER_1: """UPDATE handovers SET reminder_1_sent_at = now()
                        WHERE id = $1 AND status = 'pending' AND reminder_1_sent_at IS NULL
                    RETURNING *""",
    Due.REMINDER_2: """UPDATE handovers SET reminder_2_sent_at = now()
                        WHERE id = $1 AND status = 'pending' AND reminder_1_sent_at IS NOT NULL
                          AND reminder_2_sent_at IS NULL
                    RETURNING *""",
}


def handover_from_row(row: asyncpg.Record) -> Handover:
    return Handover(
        id=row["id"], conversation_id=row["conversation_id"], client_id=row["client_id"],
        status=HandoverStatus(row["status"]), trigger_type=TriggerType(row["trigger_type"]),
        trigger_value=row["trigger_value"], user_message=row["user_message"],
        assigned_to=row["assigned_to"], assigned_to_name=row["assigned_to_name"],
        skipped_by=tuple(row["skipped_by"] or ()), telegram_message_id=row["telegram_message_id"],
        manager_response=row["manager_response"],
        resolution=Resolution(row["resolution"]) if row["resolution"] else None,
        created_at=row["created_at"], taken_at=row["taken_at"], resolved_at=row["resolved_at"],
        reminder_1_sent_at=row["reminder_1_sent_at"], reminder_2_sent_at=row["reminder_2_sent_at"],
        rating=row["rating"], rating_asked_at=row["rating_asked_at"], rated_at=row["rated_at"],
        trigger_detail=row["trigger_detail"],
    )


class HandoversRepo:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, handover_id: UUID, *, for_update: bool = False) -> Handover | None:
        row = await self._conn.fetchrow(
            "SELECT * FROM handovers WHERE id = $1" + (" FOR UPDATE" if for_update else ""),
            handover_id,
        )
        return handover_from_row(row) if row else None

    async def open_for(self, conversation_id: UUID, *, for_update: bool = False) -> Handover | None:
        row = await self._conn.fetchrow(
            "SELECT * FROM handovers WHERE conversation_id = $1 AND status <> 'resolved'"
            + (" FOR UPDATE" if for_update else ""),
            conversation_id,
        )
        return handover_from_row(row) if row else None

    async def latest_for(self, conversation_id: UUID) -> Handover | None:
        """The conversation's most recent handover, open or not."""
        row = await self._conn.fetchrow(
            "SELECT * FROM handovers WHERE conversation_id = $1 ORDER BY created_at DESC LIMIT 1",
            conversation_id,
        )
        return handover_from_row(row) if row else None

    async def create(self, conversation_id: UUID, client_id: UUID, trigger_type: TriggerType,
                     trigger_value: str | None, user_message: str | None,
                     trigger_detail: dict[str, Any] | None = None) -> Handover:
        row = await self._conn.fetchrow(
            """INSERT INTO handovers (conversation_id, client_id, trigger_type, trigger_value,
                                      user_message, trigger_detail)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
            conversation_id, client_id, trigger_type, trigger_value, user_message, trigger_detail,
        )
        return handover_from_row(row)

    async def update(self, handover_id: UUID, **fields: Any) -> None:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not a handover field: {unknown}")
        assignments = ", ".join(f"{key} = ${i}" for i, key in enumerate(fields, start=2))
        await self._conn.execute(
            f"UPDATE handovers SET {assignments} WHERE id = $1", handover_id, *fields.values()
        )

    async def claim_reminder(self, handover_id: UUID, step: Due) -> Handover | None:
        row = await self._conn.fetchrow(_REMINDER_CLAIMS[step], handover_id)
        return handover_from_row(row) if row else None


async def for_operator(pool: asyncpg.Pool, statuses: list[str], client_slug: str | None,
                       limit: int) -> list[dict[str, Any]]:
    """Handovers with their client and customer, newest first (the admin API's listing)."""
    rows = await pool.fetch(
        """SELECT h.id, c.slug AS client, h.conversation_id, h.status, h.trigger_type,
                  h.trigger_value, h.user_message, h.assigned_to_name, h.resolution,
                  h.created_at, h.taken_at, h.resolved_at, u.name AS customer_name, u.phone
             FROM handovers h JOIN clients c ON c.id = h.client_id
             JOIN conversations v ON v.id = h.conversation_id JOIN users u ON u.id = v.user_id
            WHERE h.status = ANY($1::text[]) AND ($2::text IS NULL OR c.slug = $2)
            ORDER BY h.created_at DESC LIMIT $3""",
        statuses, client_slug, limit)
    return [dict(r) for r in rows]

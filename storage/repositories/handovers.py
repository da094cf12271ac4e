"""Handovers: requests for a manager."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from core.models import Handover, HandoverStatus, Resolution, TriggerType

_UPDATABLE = {"status", "assigned_to", "assigned_to_name", "skipped_by", "telegram_message_id",
              "manager_response", "resolution", "taken_at", "resolved_at", "reminder_1_sent_at",
              "reminder_2_sent_at"}


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
                     trigger_value: str | None, user_message: str | None) -> Handover:
        row = await self._conn.fetchrow(
            """INSERT INTO handovers (conversation_id, client_id, trigger_type, trigger_value,
                                      user_message)
               VALUES ($1, $2, $3, $4, $5) RETURNING *""",
            conversation_id, client_id, trigger_type, trigger_value, user_message,
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

"""A turn that only answers, written in one statement (`Store.record_answer`): the
conversation's last message time and language (only while it is as the turn saw it), the
customer's lines and the reply, the reply's outbox row and the end of the turn's events. One
round trip where the general transaction takes eight (BEGIN, the conversation read for update,
its update, the customer's lines, the reply, the outbox row, the events' end, COMMIT)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from core.delivery import Delivery
from core.ports import AnsweredTurn, LostClaim
from storage.repositories.conversations import insert_lines_sql, lines_args
from storage.repositories.inbox import MAX_WAIT_SECONDS, end_turn_ctes
from storage.repositories.outbox import LocalLease, delivery_from_row, enqueue_args, enqueue_sql

_LOST_CLAIM = "TR001"  # raised by answered_turn_claims_held (migration 0052)

_CONVERSATION_AND_LINES = f"""
         conv AS (
             UPDATE conversations
                SET last_message_at = coalesce($5::timestamptz, now()), language = $6,
                    updated_at = now()
              WHERE id = $1 AND state = $2 AND bot_muted_until IS NOT DISTINCT FROM $3::timestamptz
                AND branch_id IS NOT DISTINCT FROM $4::uuid AND flood_notice_at IS NULL
                AND rating_handover_id IS NULL
             RETURNING id),
         lines AS ({insert_lines_sql("conv.id", 7, source="conv,")}),"""

_ENDED = end_turn_ctes("$11", "$12", "'done'", "NULL::text", "$13", gate=", conv")

_RECORDED = """answered_turn_claims_held(EXISTS (SELECT 1 FROM conv),
                                        (SELECT count(*) FROM updated),
                                        cardinality($11::bigint[])) AS recorded"""

_WITHOUT_DELIVERY = f"WITH {_CONVERSATION_AND_LINES}{_ENDED}\nSELECT {_RECORDED}"

_WITH_DELIVERY = f"""WITH {_CONVERSATION_AND_LINES}{_ENDED},
         delivery AS ({enqueue_sql(14, gate=", conv")})
SELECT {_RECORDED}, d.* FROM (SELECT 1) one LEFT JOIN delivery d ON true"""


async def record_answer(pool: asyncpg.Pool, turn: AnsweredTurn, *, reply_retry: timedelta,
                        local: LocalLease | None) -> tuple[bool, Delivery | None]:
    """Whether it was recorded, and the reply's delivery when it was written leased to this
    process (`LocalLease`: the caller hands it to its sender)."""
    seen = turn.seen
    args = (seen.id, seen.state, seen.bot_muted_until, seen.branch_id, turn.now, turn.language,
            *lines_args(turn.lines), [event_id for event_id, _ in turn.claims],
            [attempt for _, attempt in turn.claims], MAX_WAIT_SECONDS)
    try:
        if turn.delivery is None:
            return bool(await pool.fetchval(_WITHOUT_DELIVERY, *args)), None
        client_id, message, key = turn.delivery
        row = await pool.fetchrow(_WITH_DELIVERY, *args, *enqueue_args(
            client_id, message, key, reply_retry=reply_retry, local=local))
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == _LOST_CLAIM:
            raise LostClaim(str(exc)) from exc
        raise
    leased = row["id"] is not None and row["status"] == "processing"
    return row["recorded"], delivery_from_row(row) if leased else None

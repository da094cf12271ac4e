"""Customers, conversations and their messages."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from core.models import Conversation, Customer, HistoryLine, Role, State
from core.ports import NewMessage, TurnView
from core.states import check_transition

log = logging.getLogger(__name__)

_UPDATABLE = {"state", "bot_muted_until", "no_count", "telegram_topic_id", "telegram_chat_id",
              "pending_notice_at", "last_message_at", "branch_id", "language",
              "rating_handover_id", "rating_due_until", "flood_notice_at"}


_CONVERSATION_FIELDS = ("id", "client_id", "user_id", "branch_id", "channel", "state",
                        "bot_muted_until", "no_count", "telegram_topic_id", "telegram_chat_id",
                        "pending_notice_at", "last_message_at", "language", "rating_handover_id",
                        "rating_due_until", "flood_notice_at", "instance_id")


def conversation_from_row(row: asyncpg.Record, prefix: str = "") -> Conversation:
    fields = {name: row[prefix + name] for name in _CONVERSATION_FIELDS}
    return Conversation(**fields | {"state": State(fields["state"])})


_VIEW = "view_"  # the prefix of a turn view's columns


def turn_view_columns(history_lines: str) -> str:
    """The columns of a turn's view (`turn_view_from_row`) for a statement that joins
    `conversations c` and `users u ON u.id = c.user_id`, named apart from any other table's
    (the claim of a turn returns them beside its events); `history_lines`: an SQL expression."""
    return ", ".join(f"c.{name} AS {_VIEW}{name}" for name in _CONVERSATION_FIELDS) + f""",
        u.id AS {_VIEW}customer_id, u.client_id AS {_VIEW}customer_client_id,
        u.remote_jid AS {_VIEW}remote_jid, u.phone AS {_VIEW}phone,
        u.name AS {_VIEW}customer_name, now() AS {_VIEW}read_at,
        (SELECT array_agg(ROW(h.role, h.content, h.created_at) ORDER BY h.id)
           FROM (SELECT id, role, content, created_at FROM messages
                  WHERE conversation_id = c.id ORDER BY id DESC LIMIT {history_lines}) h
        ) AS {_VIEW}history"""


def turn_view_from_row(row: asyncpg.Record) -> TurnView | None:
    """The view in a row with `turn_view_columns`; None when the row has none."""
    if row[f"{_VIEW}id"] is None:
        return None
    customer = Customer(id=row[f"{_VIEW}customer_id"], client_id=row[f"{_VIEW}customer_client_id"],
                        remote_jid=row[f"{_VIEW}remote_jid"], phone=row[f"{_VIEW}phone"],
                        name=row[f"{_VIEW}customer_name"])
    history = [HistoryLine(Role(role), content, created_at)
               for role, content, created_at in row[f"{_VIEW}history"] or ()]
    return TurnView(conversation_from_row(row, _VIEW), customer, history, row[f"{_VIEW}read_at"])


async def upsert_customer(conn: asyncpg.Connection, client_id: UUID, remote_jid: str,
                          name: str | None, *, branch_id: UUID | None, channel: str = "whatsapp",
                          ) -> tuple[UUID, UUID]:
    """The customer and their conversation, created on first contact; returns (user, conversation)."""
    phone = remote_jid.split("@", 1)[0]
    user_id = await conn.fetchval(
        """INSERT INTO users (client_id, remote_jid, phone, name) VALUES ($1, $2, $3, $4)
           ON CONFLICT (client_id, remote_jid)
           DO UPDATE SET name = coalesce(EXCLUDED.name, users.name)
           RETURNING id""",
        client_id, remote_jid, phone, name,
    )
    conversation_id = await conn.fetchval(
        """INSERT INTO conversations (client_id, user_id, branch_id, channel, last_message_at)
           VALUES ($1, $2, $3, $4, now())
           ON CONFLICT (client_id, user_id)
           DO UPDATE SET last_message_at = now(),
                         -- A customer writing through another branch's number moves there,
                         -- but not while a manager of the current branch has the request.
                         branch_id = CASE WHEN conversations.state = 'bot_active'
                                          THEN coalesce(EXCLUDED.branch_id, conversations.branch_id)
                                          ELSE conversations.branch_id END
           RETURNING id""",
        client_id, user_id, branch_id, channel,
    )
    return user_id, conversation_id


def insert_lines_sql(conversation: str, first: int, source: str = "") -> str:
    """A conversation's lines in one statement, their ids in the order given (the rows are
    numbered as the ordered select hands them over): the parameters from `first` on are the
    arrays of `lines_args`; `conversation`, an SQL expression, may name a column of `source`
    (FROM items before the lines, ending with a comma)."""
    roles, contents, provider_ids, metadata = (f"${first + i}" for i in range(4))
    return f"""INSERT INTO messages (conversation_id, role, content, provider_message_id, metadata)
               SELECT {conversation}, m.role, m.content, m.provider_message_id, m.metadata
                 FROM {source} unnest({roles}::text[], {contents}::text[], {provider_ids}::text[],
                                      {metadata}::jsonb[])
                      WITH ORDINALITY AS m(role, content, provider_message_id, metadata, n)
                ORDER BY m.n"""


def lines_args(lines: Sequence[tuple[Role, NewMessage]]) -> tuple[list[Any], ...]:
    """The parameters of `insert_lines_sql`: roles, contents, provider message ids, metadata."""
    return ([role for role, _ in lines], [line.content for _, line in lines],
            [line.provider_message_id for _, line in lines],
            [line.metadata or {} for _, line in lines])


class ConversationsRepo:
    def __init__(self, conn: asyncpg.Connection, *,
                 saw_now: Callable[[datetime], None] | None = None) -> None:
        """`saw_now`: told the transaction's now(), read along with a conversation (the
        transaction keeps it: no round trip of its own for it)."""
        self._conn = conn
        self._saw_now = saw_now

    async def get(self, conversation_id: UUID, *, for_update: bool = False) -> Conversation | None:
        row = await self._conn.fetchrow(
            "SELECT *, now() AS read_at FROM conversations WHERE id = $1"
            + (" FOR UPDATE" if for_update else ""),
            conversation_id,
        )
        if row is None:
            return None
        if self._saw_now is not None:
            self._saw_now(row["read_at"])
        return conversation_from_row(row)

    async def turn_view(self, conversation_id: UUID, history_lines: int) -> TurnView | None:
        """The conversation, its customer, its last `history_lines` messages and now(), in one
        statement (one round trip, one snapshot)."""
        row = await self._conn.fetchrow(
            f"""SELECT {turn_view_columns("$2")}
                  FROM conversations c JOIN users u ON u.id = c.user_id
                 WHERE c.id = $1""",
            conversation_id, history_lines,
        )
        return None if row is None else turn_view_from_row(row)

    async def set_state(self, conversation_id: UUID, state: State) -> None:
        await self.update(conversation_id, state=state)

    async def update(self, conversation_id: UUID, **fields: Any) -> None:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not a conversation field: {unknown}")
        if "state" in fields:
            current = await self._conn.fetchval(
                "SELECT state FROM conversations WHERE id = $1 FOR UPDATE", conversation_id
            )
            if current != fields["state"]:
                try:
                    check_transition(State(current), State(fields["state"]))
                except Exception:
                    log.error("invalid state transition refused",
                              extra={"conversation_id": str(conversation_id), "from": current,
                                     "to": str(fields["state"])})
                    raise
        assignments = ", ".join(f"{key} = ${i}" for i, key in enumerate(fields, start=2))
        await self._conn.execute(
            f"UPDATE conversations SET {assignments}, updated_at = now() WHERE id = $1",
            conversation_id, *fields.values(),
        )

    async def customer(self, conversation_id: UUID) -> Customer:
        row = await self._conn.fetchrow(
            """SELECT u.* FROM users u JOIN conversations c ON c.user_id = u.id WHERE c.id = $1""",
            conversation_id,
        )
        return Customer(id=row["id"], client_id=row["client_id"], remote_jid=row["remote_jid"],
                        phone=row["phone"], name=row["name"])


class MessagesRepo:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, conversation_id: UUID, role: Role, content: str, *,
                  provider_message_id: str | None = None,
                  metadata: dict[str, Any] | None = None) -> int:
        return await self._conn.fetchval(
            """INSERT INTO messages (conversation_id, role, content, provider_message_id, metadata)
               VALUES ($1, $2, $3, $4, $5) RETURNING id""",
            conversation_id, role, content, provider_message_id, metadata or {},
        )

    async def add_many(self, conversation_id: UUID, role: Role,
                       messages: Sequence[NewMessage]) -> None:
        """One statement (one round trip) for a turn's messages; their ids follow their order
        (the rows are numbered as the ordered select hands them over)."""
        if not messages:
            return
        await self._conn.execute(insert_lines_sql("$1", 2), conversation_id,
                                 *lines_args([(role, m) for m in messages]))

    async def history(self, conversation_id: UUID, limit: int) -> list[HistoryLine]:
        rows = await self._conn.fetch(
            """SELECT role, content, created_at FROM messages WHERE conversation_id = $1
               ORDER BY id DESC LIMIT $2""",
            conversation_id, limit,
        )
        return [HistoryLine(Role(r["role"]), r["content"], r["created_at"]) for r in reversed(rows)]

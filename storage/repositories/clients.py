"""Tenants: clients, their settings, branches and prompts."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from uuid import UUID

import asyncpg

from core.models import Branch, Client, ClientSettings

Executor = asyncpg.Connection | asyncpg.Pool

_CLIENT_SELECT = """
SELECT c.id, c.slug, c.name, c.status, s.*
  FROM clients c JOIN client_settings s ON s.client_id = c.id
"""

# Settings an operator may change with `client set` / the admin API, and how to parse them.
EDITABLE_SETTINGS: dict[str, type] = {
    "telegram_bot_token": str,
    "telegram_chat_id": int,
    "owner_telegram_ids": list,
    "chatflow_token": str,
    "chatflow_instance_id": str,
    "webhook_secret": str,
    "reminder_timeout_1": int,
    "reminder_timeout_2": int,
    "auto_close_timeout": int,
    "mute_duration_first_minutes": int,
    "mute_duration_second_hours": int,
    "enable_reminders": bool,
    "enable_owner_escalation": bool,
    "debounce_seconds": float,
    "timezone": str,
    "templates": dict,
    "escalation_policy": list,
    "working_hours": dict,
    "ask_rating": bool,
    "policy_threshold_offset": float,
    "knowledge_synonyms": list,
    "daily_report_time": str,
    "flood_messages_per_minute": int,
    "max_turn_chars": int,
    "max_events_per_turn": int,
    "message_retention_days": int,
}


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(24)


def _client(row: asyncpg.Record) -> Client:
    settings = ClientSettings(
        telegram_bot_token=row["telegram_bot_token"],
        telegram_chat_id=row["telegram_chat_id"],
        telegram_webhook_secret=row["telegram_webhook_secret"],
        owner_telegram_ids=tuple(row["owner_telegram_ids"] or ()),
        chatflow_token=row["chatflow_token"],
        chatflow_instance_id=row["chatflow_instance_id"],
        webhook_secret=row["webhook_secret"],
        reminder_timeout_1=row["reminder_timeout_1"],
        reminder_timeout_2=row["reminder_timeout_2"],
        auto_close_timeout=row["auto_close_timeout"],
        mute_duration_first_minutes=row["mute_duration_first_minutes"],
        mute_duration_second_hours=row["mute_duration_second_hours"],
        enable_reminders=row["enable_reminders"],
        enable_owner_escalation=row["enable_owner_escalation"],
        debounce_seconds=float(row["debounce_seconds"]),
        timezone=row["timezone"],
        templates=row["templates"] or {},
        escalation_policy=row["escalation_policy"],
        working_hours=row["working_hours"],
        ask_rating=row["ask_rating"],
        policy_threshold_offset=float(row["policy_threshold_offset"]),
        knowledge_synonyms=tuple(tuple(group) for group in row["knowledge_synonyms"] or ()),
        daily_report_time=row["daily_report_time"],
        flood_messages_per_minute=row["flood_messages_per_minute"],
        max_turn_chars=row["max_turn_chars"],
        max_events_per_turn=row["max_events_per_turn"],
        message_retention_days=row["message_retention_days"],
    )
    return Client(id=row["id"], slug=row["slug"], name=row["name"], status=row["status"],
                  settings=settings)


def _branch(row: asyncpg.Record) -> Branch:
    return Branch(
        id=row["id"], client_id=row["client_id"], slug=row["slug"], name=row["name"],
        instance_id=row["instance_id"], phone=row["phone"],
        telegram_chat_id=row["telegram_chat_id"], knowledge_tag=row["knowledge_tag"],
        is_active=row["is_active"], working_hours=row["working_hours"],
    )


async def create(db: asyncpg.Connection, slug: str, name: str, **settings: Any) -> Client:
    settings.setdefault("webhook_secret", new_webhook_secret())
    async with db.transaction():
        client_id = await db.fetchval(
            "INSERT INTO clients (slug, name) VALUES ($1, $2) RETURNING id", slug, name
        )
        columns = ["client_id", *settings]
        placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        await db.execute(
            f"INSERT INTO client_settings ({', '.join(columns)}) VALUES ({placeholders})",
            client_id, *settings.values(),
        )
    client = await by_id(db, client_id)
    assert client is not None
    return client


SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


async def by_slug(db: Executor, slug: str) -> Client | None:
    """None for a slug that cannot name a client (whatever arrived in a URL)."""
    if not SLUG.fullmatch(slug):
        return None
    row = await db.fetchrow(_CLIENT_SELECT + " WHERE c.slug = $1", slug)
    return _client(row) if row else None


async def by_id(db: Executor, client_id: UUID) -> Client | None:
    row = await db.fetchrow(_CLIENT_SELECT + " WHERE c.id = $1", client_id)
    return _client(row) if row else None


async def exists(db: Executor, slug: str) -> bool:
    return await db.fetchval("SELECT EXISTS (SELECT 1 FROM clients WHERE slug = $1)", slug)


async def list_all(db: Executor) -> list[Client]:
    return [_client(r) for r in await db.fetch(_CLIENT_SELECT + " ORDER BY c.slug")]


async def count(db: Executor) -> int:
    return await db.fetchval("SELECT count(*) FROM clients")


async def update_settings(db: Executor, client_id: UUID, values: dict[str, Any]) -> None:
    """Values must already be parsed (see `parse_setting`); unknown keys are refused."""
    unknown = set(values) - set(EDITABLE_SETTINGS)
    if unknown:
        raise ValueError(f"unknown setting: {', '.join(sorted(unknown))}")
    if not values:
        return
    if "chatflow_instance_id" in values:
        await db.execute(_FORGET_CLIENT_NUMBER, client_id, values["chatflow_instance_id"])
    assignments = ", ".join(f"{key} = ${i}" for i, key in enumerate(values, start=2))
    await db.execute(
        f"UPDATE client_settings SET {assignments}, updated_at = now() WHERE client_id = $1",
        client_id, *values.values(),
    )


# A number replaced in the settings is gone: conversations whose customer last wrote on it
# (`conversations.instance_id`, where their replies go) fall back to their branch's or the
# client's number until the customer writes again. $1: the client / the branch; $2: the new number.
_FORGET_CLIENT_NUMBER = """
    UPDATE conversations c SET instance_id = NULL, updated_at = now()
      FROM client_settings s
     WHERE s.client_id = $1 AND c.client_id = $1 AND c.instance_id = s.chatflow_instance_id
       AND s.chatflow_instance_id IS DISTINCT FROM $2"""
_FORGET_BRANCH_NUMBER = """
    UPDATE conversations c SET instance_id = NULL, updated_at = now()
      FROM branches b
     WHERE b.id = $1 AND c.client_id = b.client_id AND c.instance_id = b.instance_id
       AND b.instance_id IS DISTINCT FROM $2"""


async def set_status(db: Executor, client_id: UUID, status: str) -> None:
    await db.execute(
        "UPDATE clients SET status = $2, updated_at = now() WHERE id = $1", client_id, status
    )


def parse_setting(key: str, raw: str) -> Any:
    """Turn `KEY=VALUE` text from the CLI into a typed value; empty means unset (NULL)."""
    kind = EDITABLE_SETTINGS.get(key)
    if kind is None:
        raise ValueError(f"unknown setting {key!r}; known: {', '.join(EDITABLE_SETTINGS)}")
    if raw == "" and kind not in (bool, list, dict):
        return None
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{key} must be true or false")
    if kind is list and key == "owner_telegram_ids":
        try:
            return [int(p) for p in raw.split(",") if p.strip()]
        except ValueError:
            raise ValueError(f"{key} must be comma-separated numeric Telegram ids") from None
    if kind in (list, dict):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(f"{key} must be JSON") from None
        if not isinstance(value, kind):
            raise ValueError(f"{key} must be a JSON {kind.__name__}")
        return value
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{key} must be {kind.__name__}") from None


async def add_branch(db: Executor, client_id: UUID, slug: str, name: str, *,
                     instance_id: str | None = None, phone: str | None = None,
                     telegram_chat_id: int | None = None,
                     knowledge_tag: str | None = None) -> Branch:
    row = await db.fetchrow(
        """INSERT INTO branches (client_id, slug, name, instance_id, phone, telegram_chat_id,
                                 knowledge_tag)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *""",
        client_id, slug, name, instance_id, phone, telegram_chat_id, knowledge_tag,
    )
    return _branch(row)


# Branch fields an operator may change (`branch set`, PATCH …/branches/{branch}): column names.
BRANCH_COLUMNS = {"name": "name", "instance_id": "instance_id", "phone": "phone",
                  "telegram_chat_id": "telegram_chat_id", "knowledge_tag": "knowledge_tag",
                  "active": "is_active"}


async def update_branch(db: Executor, branch_id: UUID, values: dict[str, Any]) -> None:
    """Values must already be typed; unknown keys are refused."""
    unknown = set(values) - set(BRANCH_COLUMNS)
    if unknown:
        raise ValueError(f"unknown branch field: {', '.join(sorted(unknown))}")
    if not values:
        return
    if "instance_id" in values:
        await db.execute(_FORGET_BRANCH_NUMBER, branch_id, values["instance_id"])
    assignments = ", ".join(f"{BRANCH_COLUMNS[key]} = ${i}" for i, key in enumerate(values, 2))
    await db.execute(f"UPDATE branches SET {assignments} WHERE id = $1", branch_id, *values.values())


async def set_branch_hours(db: Executor, branch_id: UUID, hours: dict[str, Any] | None) -> None:
    """Values must already be validated (`core.hours.canonical`); None: the client's hours apply."""
    await db.execute("UPDATE branches SET working_hours = $2 WHERE id = $1", branch_id, hours)


async def branches(db: Executor, client_id: UUID) -> list[Branch]:
    rows = await db.fetch("SELECT * FROM branches WHERE client_id = $1 ORDER BY slug", client_id)
    return [_branch(r) for r in rows]


async def branch_by_id(db: Executor, branch_id: UUID) -> Branch | None:
    row = await db.fetchrow("SELECT * FROM branches WHERE id = $1", branch_id)
    return _branch(row) if row else None


async def resolve_branch(db: Executor, client: Client, instance_id: str | None) -> Branch | None:
    """PRODUCT.md §2: the inbound instance picks the branch. An instance that is no branch's (the
    client's own number, or unknown) means client level. Without an instance, a single active
    branch is implied, unless the client has a number of its own that is not that branch's: the
    message may well have come in on the client's number."""
    active = [b for b in await branches(db, client.id) if b.is_active]
    if instance_id:
        return next((b for b in active if b.instance_id == instance_id), None)
    if len(active) != 1:
        return None
    (only,) = active
    own = client.settings.chatflow_instance_id
    return only if own is None or only.instance_id in (None, own) else None


async def active_prompt(db: Executor, client_id: UUID) -> str | None:
    return await db.fetchval(
        "SELECT text FROM prompts WHERE client_id = $1 AND name = 'system' AND is_active",
        client_id,
    )


async def set_prompt(db: asyncpg.Connection, client_id: UUID, text: str) -> None:
    """The new prompt becomes active; earlier ones stay as history."""
    async with db.transaction():
        await db.execute(
            "UPDATE prompts SET is_active = false WHERE client_id = $1 AND name = 'system' AND is_active",
            client_id,
        )
        await db.execute(
            "INSERT INTO prompts (client_id, name, text) VALUES ($1, 'system', $2)",
            client_id, text,
        )

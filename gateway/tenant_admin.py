"""Tenant administration shared by the operator CLI and the admin HTTP API: validated changes to
clients, settings, policy, branches and prompts, each written to the audit log."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from core.calibration import MAX_OFFSET
from core.flood import RANGES as LIMIT_RANGES
from core.flood import check_limit
from core.hours import canonical
from core.models import Branch, Client
from core.policy import effective_policy, parse_policy
from core.ports import AuditEntry
from core.reports import parse_report_time
from core.texts import check_templates
from gateway.settings import Settings
from storage.repositories import clients
from storage.repositories.audit import AuditRepo

_CONSTRAINTS = {
    "reminder_2_after_1": "reminder_timeout_2 must be greater than reminder_timeout_1",
    "auto_close_after_reminder_2": "auto_close_timeout must be greater than reminder_timeout_2",
    "client_settings_webhook_secret_check": "webhook_secret must be at least 16 characters",
    "client_settings_debounce_seconds_check": "debounce_seconds must be between 0 and 10",
    "client_settings_policy_threshold_offset_check": "policy_threshold_offset must be between -0.1 and 0.1",
    **{f"client_settings_{name}_check": f"{name} must be between {low} and {high}"
       for name, (low, high) in LIMIT_RANGES.items()},
    "client_settings_message_retention_days_check":
        "message_retention_days must be between 0 (keep) and 36500, or empty (the default)",
    "clients_slug_check": "slug must be lowercase letters, digits, - or _ (up to 63)",
    "branches_slug_check": "branch slug must be lowercase letters, digits, - or _",
}


class TenantError(ValueError):
    """A refused change, with a one-line reason for the operator."""


class NotFound(TenantError):
    pass


class Conflict(TenantError):
    """The thing exists already."""


def policy_topics(document: Any) -> list[dict[str, Any]]:
    """The `topics` list of a policy document (`{topics: [...]}`), validated; a document without
    one is refused rather than read as "no policy" (which would reset the client's topics)."""
    topics = document.get("topics") if isinstance(document, dict) else None
    if not isinstance(topics, list):
        raise TenantError("the policy needs a 'topics' list")
    return [t.as_dict() for t in parse_policy(topics)]


def client_summary(client: Client, settings: Settings) -> dict[str, Any]:
    """What an operator sees of a client: never the tokens themselves, only whether they are set;
    the webhook URL (with its secret) is what the operator pastes into ChatFlow."""
    s = client.settings
    base = settings.public_base_url or f"http://{settings.host}:{settings.port}"
    return {
        "id": str(client.id), "slug": client.slug, "name": client.name, "status": client.status,
        "webhook_url": f"{base}/webhook/{client.slug}?webhook_secret={s.webhook_secret}",
        "telegram_desk": bool(s.telegram_bot_token and s.telegram_chat_id),
        "telegram_chat_id": s.telegram_chat_id,
        "chatflow_instance_id": s.chatflow_instance_id,
        "chatflow_token_set": bool(s.chatflow_token),
        "owner_telegram_ids": list(s.owner_telegram_ids),
        "reminder_timeout_1": s.reminder_timeout_1, "reminder_timeout_2": s.reminder_timeout_2,
        "auto_close_timeout": s.auto_close_timeout,
        "mute_duration_first_minutes": s.mute_duration_first_minutes,
        "mute_duration_second_hours": s.mute_duration_second_hours,
        "enable_reminders": s.enable_reminders,
        "enable_owner_escalation": s.enable_owner_escalation,
        "debounce_seconds": s.debounce_seconds, "timezone": s.timezone,
        "templates": s.templates, "working_hours": s.working_hours,
        "ask_rating": s.ask_rating, "policy_threshold_offset": s.policy_threshold_offset,
        "daily_report_time": s.daily_report_time,
        # the flood shield; None: the process default (FLOOD_MESSAGES_PER_MINUTE, …)
        "flood_messages_per_minute": s.flood_messages_per_minute,
        "max_turn_chars": s.max_turn_chars, "max_events_per_turn": s.max_events_per_turn,
        "message_retention_days": s.message_retention_days,
    }


def branch_summary(branch: Branch) -> dict[str, Any]:
    return {"slug": branch.slug, "name": branch.name, "instance_id": branch.instance_id,
            "telegram_chat_id": branch.telegram_chat_id, "knowledge_tag": branch.knowledge_tag,
            "phone": branch.phone, "active": branch.is_active,
            "working_hours": branch.working_hours}


def _refusal(exc: asyncpg.IntegrityConstraintViolationError) -> TenantError:
    name = getattr(exc, "constraint_name", None) or ""
    return TenantError(_CONSTRAINTS.get(name, f"rejected by the database ({name or exc})"))


def typed_settings(values: dict[str, Any]) -> dict[str, Any]:
    """Settings from text (CLI `KEY=VALUE`) or JSON (HTTP) into typed, validated values."""
    typed: dict[str, Any] = {}
    for key, value in values.items():
        if key not in clients.EDITABLE_SETTINGS:
            raise TenantError(f"unknown setting {key!r}; known: {', '.join(clients.EDITABLE_SETTINGS)}")
        if isinstance(value, str):
            value = clients.parse_setting(key, value)
        elif key == "owner_telegram_ids" and isinstance(value, list):
            value = [int(v) for v in value]
        elif value is not None and key in ("telegram_chat_id", "reminder_timeout_1", "reminder_timeout_2",
                                            "auto_close_timeout", "mute_duration_first_minutes",
                                            "mute_duration_second_hours", "message_retention_days"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TenantError(f"{key} must be a whole number")
        _check_range(key, value)
        if key == "timezone" and value is not None:
            _check_timezone(value)
        if value is not None and key in _DOCUMENT_CHECKS:
            try:
                value = _DOCUMENT_CHECKS[key](value)
            except ValueError as exc:
                raise TenantError(str(exc)) from None
        if key == "policy_threshold_offset":
            value = _threshold_offset(value)
        if key == "daily_report_time" and value is not None:
            value = _report_time(value)
        if key in LIMIT_RANGES:
            try:
                value = check_limit(key, value)
            except ValueError as exc:
                raise TenantError(str(exc)) from None
        typed[key] = value
    if "escalation_policy" in typed and typed["escalation_policy"] is not None:
        typed["escalation_policy"] = [t.as_dict() for t in parse_policy(typed["escalation_policy"])]
    return typed


MAX_SYNONYM_GROUPS = 500
MAX_SYNONYM_CHARS = 60


def synonym_groups(value: Any) -> list[list[str]]:
    """knowledge_synonyms: a list of groups, each a list of at least two names (1-60 chars)."""
    if not isinstance(value, list) or len(value) > MAX_SYNONYM_GROUPS:
        raise TenantError(f"knowledge_synonyms must be a list of at most {MAX_SYNONYM_GROUPS} "
                          'groups, e.g. [["УЗИ", "УДЗ", "ultrasound"]]')
    groups = []
    for group in value:
        if not isinstance(group, list) or len(group) < 2 or not all(
                isinstance(name, str) and 0 < len(name.strip()) <= MAX_SYNONYM_CHARS
                for name in group):
            raise TenantError("each knowledge_synonyms group must list at least two names of "
                              f"1-{MAX_SYNONYM_CHARS} characters: {group!r}")
        groups.append([name.strip() for name in group])
    return groups


# Settings that are documents: validated, and stored in their checked (canonical) form.
_DOCUMENT_CHECKS = {"templates": check_templates, "working_hours": canonical,
                    "knowledge_synonyms": synonym_groups}


def _threshold_offset(value: Any) -> float:
    """The semantic layer's sensitivity: a number within ±MAX_OFFSET (unset means 0)."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TenantError("policy_threshold_offset must be a number")
    if not -MAX_OFFSET <= value <= MAX_OFFSET:
        raise TenantError(f"policy_threshold_offset must be between -{MAX_OFFSET} and {MAX_OFFSET} "
                          "(positive: fewer escalations by the semantic classifier, negative: more)")
    return round(float(value), 3)


# The database's integer widths: Telegram ids are bigint, minutes and hours integer.
_BIGINT_SETTINGS = {"telegram_chat_id", "owner_telegram_ids"}
_INT_SETTINGS = {"reminder_timeout_1", "reminder_timeout_2", "auto_close_timeout",
                 "mute_duration_first_minutes", "mute_duration_second_hours",
                 "message_retention_days"}


def _check_range(key: str, value: Any) -> None:
    limit = 2**63 if key in _BIGINT_SETTINGS else 2**31 if key in _INT_SETTINGS else None
    numbers = value if isinstance(value, list) else [value]
    if limit is not None and any(isinstance(n, int) and not -limit <= n < limit for n in numbers):
        raise TenantError(f"{key} is out of range")


def _report_time(value: Any) -> str:
    """"HH:MM" of the owner's daily report, normalised ("9:30" is refused: write 09:30)."""
    if not isinstance(value, str):
        raise TenantError("daily_report_time must be HH:MM (24-hour), e.g. 21:00")
    try:
        return parse_report_time(value).strftime("%H:%M")
    except ValueError as exc:
        raise TenantError(str(exc)) from None


def _check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TenantError(f"unknown timezone {name!r} (e.g. Asia/Almaty)") from None


async def require_client(pool: asyncpg.Pool, slug: str) -> Client:
    client = await clients.by_slug(pool, slug)
    if client is None:
        raise NotFound(f"no client with slug {slug!r}")
    return client


async def audit_operator(pool: asyncpg.Pool, client_id: Any, actor: str, action: str,
                         details: dict) -> None:
    """An operator's change, in the audit log (`actor`: "cli", "admin-api")."""
    async with pool.acquire() as conn:
        await AuditRepo(conn).record(client_id, AuditEntry(
            actor_type="operator", actor_id=actor, action=action, details=details))


async def create_client(pool: asyncpg.Pool, slug: str, name: str, values: dict[str, Any], *,
                        actor: str) -> Client:
    typed = typed_settings(values)
    if await clients.by_slug(pool, slug):
        raise Conflict(f"client {slug!r} already exists")
    async with pool.acquire() as conn:
        try:
            client = await clients.create(conn, slug, name, **typed)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise _refusal(exc) from None
    await audit_operator(pool, client.id, actor, "client_create", {"slug": slug})
    return client


async def update_client(pool: asyncpg.Pool, slug: str, values: dict[str, Any], *, actor: str,
                        status: str | None = None) -> Client:
    client = await require_client(pool, slug)
    if status is not None and status not in ("active", "suspended"):
        raise TenantError("status must be active or suspended")
    typed = typed_settings(values)
    try:
        await clients.update_settings(pool, client.id, typed)
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise _refusal(exc) from None
    if status is not None:
        await clients.set_status(pool, client.id, status)
    # Never audit secret values, only which settings changed.
    await audit_operator(pool, client.id, actor, "client_update",
                 {"settings": sorted(typed), "status": status})
    updated = await clients.by_id(pool, client.id)
    assert updated is not None
    return updated


async def policy(pool: asyncpg.Pool, slug: str) -> list[dict[str, Any]]:
    client = await require_client(pool, slug)
    return [t.as_dict() for t in effective_policy(client.settings.escalation_policy)]


async def add_branch(pool: asyncpg.Pool, slug: str, branch_slug: str, name: str, *, actor: str,
                     **fields: Any) -> Branch:
    client = await require_client(pool, slug)
    try:
        branch = await clients.add_branch(pool, client.id, branch_slug, name, **fields)
    except asyncpg.UniqueViolationError:
        raise Conflict("a branch with this slug or instance id already exists") from None
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise _refusal(exc) from None
    await audit_operator(pool, client.id, actor, "branch_add", {"branch": branch_slug})
    return branch


async def require_branch(pool: asyncpg.Pool, client: Client, branch_slug: str) -> Branch:
    branch = next((b for b in await clients.branches(pool, client.id) if b.slug == branch_slug), None)
    if branch is None:
        raise NotFound(f"client {client.slug!r} has no branch {branch_slug!r}")
    return branch


async def set_branch_hours(pool: asyncpg.Pool, slug: str, branch_slug: str,
                           document: dict[str, Any] | None, *, actor: str) -> Branch:
    """A branch's own working hours (core.hours), or None to follow the client's."""
    client = await require_client(pool, slug)
    branch = await require_branch(pool, client, branch_slug)
    try:
        hours = canonical(document) if document is not None else None
    except ValueError as exc:
        raise TenantError(str(exc)) from None
    await clients.set_branch_hours(pool, branch.id, hours)
    await audit_operator(pool, client.id, actor, "branch_hours",
                         {"branch": branch_slug, "set": hours is not None})
    return await require_branch(pool, client, branch_slug)


async def set_prompt(pool: asyncpg.Pool, slug: str, text: str, *, actor: str) -> None:
    text = text.strip()
    if not text:
        raise TenantError("the prompt is empty")
    client = await require_client(pool, slug)
    async with pool.acquire() as conn:
        await clients.set_prompt(conn, client.id, text)
    await audit_operator(pool, client.id, actor, "prompt_set", {"characters": len(text)})

"""Data lifecycle (issue 14.6), shared by the CLI and the admin API: suspending a client,
editing and deactivating branches, exporting and deleting a client with everything it owns,
and one customer's data exported or erased on request."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

from channels.telegram.media import MediaLinks
from core.models import Branch
from gateway import tenant_admin
from gateway.backup_cli import gateway_version
from gateway.settings import Settings
from storage.repositories import clients, lifecycle

if TYPE_CHECKING:
    from core.knowledge import KnowledgeBase

# Settings that are credentials: an export shows only whether they are set, unless asked.
SECRET_SETTINGS = ("telegram_bot_token", "telegram_webhook_secret", "chatflow_token",
                   "webhook_secret")
BRANCH_FIELDS = {"name": str, "instance_id": str, "phone": str, "telegram_chat_id": int,
                 "knowledge_tag": str, "active": bool}


async def set_status(pool: asyncpg.Pool, slug: str, status: str, *, actor: str) -> dict[str, Any]:
    """`suspended`: inbound messages are still accepted (200) and stored, but the bot does not
    answer, nothing reaches the desk, reminders and reports wait; `active` again: it answers
    the next message (what came meanwhile is kept, not answered late)."""
    client = await tenant_admin.update_client(pool, slug, {}, status=status, actor=actor)
    return {"slug": client.slug, "status": client.status}


async def edit_branch(pool: asyncpg.Pool, slug: str, branch_slug: str, values: dict[str, Any], *,
                      actor: str) -> Branch:
    """Change a branch's name, number, desk group, knowledge tag, phone, or `active` (an
    inactive branch routes nothing: its number's messages are handled at client level)."""
    client = await tenant_admin.require_client(pool, slug)
    branch = await tenant_admin.require_branch(pool, client, branch_slug)
    typed = {key: _branch_value(key, value) for key, value in values.items()}
    if not typed:
        raise tenant_admin.TenantError(f"nothing to change; known: {', '.join(BRANCH_FIELDS)}")
    try:
        await clients.update_branch(pool, branch.id, typed)
    except asyncpg.UniqueViolationError:
        raise tenant_admin.Conflict("another branch has this instance id") from None
    except asyncpg.CheckViolationError as exc:
        raise tenant_admin.TenantError(f"rejected by the database ({exc.constraint_name})") from None
    await tenant_admin.audit_operator(pool, client.id, actor, "branch_update",
                                      {"branch": branch_slug, "fields": sorted(typed)})
    return await tenant_admin.require_branch(pool, client, branch_slug)


def _branch_value(key: str, value: Any) -> Any:
    """A branch field from JSON or from `KEY=VALUE` text; empty text unsets it."""
    kind = BRANCH_FIELDS.get(key)
    if kind is None:
        raise tenant_admin.TenantError(f"unknown branch field {key!r}; known: "
                                       f"{', '.join(BRANCH_FIELDS)}")
    if value == "" or value is None:
        if key in ("name", "active"):
            raise tenant_admin.TenantError(f"a branch's {key} cannot be empty")
        return None
    if isinstance(value, str) and kind is int:
        try:
            value = int(value)
        except ValueError:
            raise tenant_admin.TenantError(f"{key} must be a whole number") from None
    if isinstance(value, str) and kind is bool:
        value = {"true": True, "yes": True, "1": True, "on": True,
                 "false": False, "no": False, "0": False, "off": False}.get(value.lower(), value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise tenant_admin.TenantError(f"{key} must be {'true or false' if kind is bool else kind.__name__}")
    return value


async def export_client(pool: asyncpg.Pool, slug: str, settings: Settings, *,
                        with_secrets: bool = False) -> dict[str, Any]:
    """Settings, policy, hours, prompts, saved replies, branches, knowledge documents and
    learned answers as one JSON document; credentials only with `with_secrets`."""
    client = await tenant_admin.require_client(pool, slug)
    summary = tenant_admin.client_summary(client, settings)
    summary.pop("webhook_url")
    configured = {key: getattr(client.settings, key) for key in SECRET_SETTINGS}
    if with_secrets:
        summary["secrets"] = configured
    else:
        summary["secrets_set"] = {key: bool(value) for key, value in configured.items()}
    return {
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "gateway_version": gateway_version(),
        "client": summary,
        "policy": await tenant_admin.policy(pool, slug),
        "knowledge_synonyms": [list(group) for group in client.settings.knowledge_synonyms],
        "branches": [tenant_admin.branch_summary(b) for b in await clients.branches(pool, client.id)],
        **await lifecycle.client_export(pool, client.id),
    }


async def delete_client(pool: asyncpg.Pool, slug: str, knowledge: KnowledgeBase | None,
                        data_dir: Path, *, actor: str) -> dict[str, Any]:
    """Everything the client owns: its vectors first, its media files, then every row (one
    transaction). A failure part-way leaves the client there, to delete again."""
    client = await tenant_admin.require_client(pool, slug)
    if knowledge is None:
        raise KnowledgeUnavailable("the knowledge base is not open: its vectors cannot be "
                                   "deleted now; retry when it is ready")
    points = await knowledge.store.delete_client(slug)
    media = MediaLinks(data_dir)
    files = media.delete_owned(client.id.hex)
    files += media.delete_linked(await lifecycle.media_urls_of_client(pool, client.id))
    async with pool.acquire() as conn:
        rows = await lifecycle.delete_client(conn, client.id, slug, actor)
    return {"deleted": slug, "rows": rows, "vectors": points, "media_files": files}


class KnowledgeUnavailable(RuntimeError):
    pass


def phone_digits(phone: str) -> str:
    """"+7 701 123-45-67", "8 701 1234567", "77011234567@s.whatsapp.net" → "77011234567"."""
    digits = re.sub(r"\D", "", phone.split("@", 1)[0])
    if len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]  # 8 701 … is how a number is dialled inside Kazakhstan
    if not 5 <= len(digits) <= 20:
        raise tenant_admin.TenantError(f"{phone!r} is not a phone number")
    return digits


async def _customers(pool: asyncpg.Pool, slug: str, phone: str) -> tuple[Any, list[Any]]:
    client = await tenant_admin.require_client(pool, slug)
    users = await lifecycle.customers_by_phone(pool, client.id, phone_digits(phone))
    if not users:
        raise tenant_admin.NotFound(f"client {slug} has no customer with the number {phone}")
    return client, users


async def export_customer(pool: asyncpg.Pool, slug: str, phone: str) -> dict[str, Any]:
    client, users = await _customers(pool, slug, phone)
    return {"exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "client": client.slug, "customers": await lifecycle.customer_export(pool, users)}


async def erase_customer(pool: asyncpg.Pool, slug: str, phone: str, data_dir: Path, *,
                         actor: str) -> dict[str, Any]:
    client, users = await _customers(pool, slug, phone)
    async with pool.acquire() as conn:
        erased = await lifecycle.erase_customers(conn, client.id, users, actor)
    files = MediaLinks(data_dir).delete_linked(erased.media_urls)
    return {"client": client.slug, **erased.counts(), "media_files": files}

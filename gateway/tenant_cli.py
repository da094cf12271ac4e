"""Operator commands for tenants: `client …`, `branch …`, `prompt set`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import asyncpg

from core.models import Client
from core.policy import DEFAULT_POLICY, parse_policy
from gateway.resources import open_database
from gateway.settings import Settings
from storage.repositories import clients


def _print_json(document: Any) -> None:
    print(json.dumps(document, ensure_ascii=False, indent=2, default=str))


def _client_summary(client: Client, settings: Settings) -> dict[str, Any]:
    s = client.settings
    base = settings.public_base_url or f"http://{settings.host}:{settings.port}"
    return {
        "slug": client.slug,
        "name": client.name,
        "status": client.status,
        "webhook_url": f"{base}/webhook/{client.slug}?webhook_secret={s.webhook_secret}",
        "telegram_desk": bool(s.telegram_bot_token and s.telegram_chat_id),
        "telegram_chat_id": s.telegram_chat_id,
        "chatflow_instance_id": s.chatflow_instance_id,
        "chatflow_token_set": bool(s.chatflow_token),
        "owner_telegram_ids": list(s.owner_telegram_ids),
        "reminder_timeout_1": s.reminder_timeout_1,
        "reminder_timeout_2": s.reminder_timeout_2,
        "auto_close_timeout": s.auto_close_timeout,
        "mute_duration_first_minutes": s.mute_duration_first_minutes,
        "mute_duration_second_hours": s.mute_duration_second_hours,
        "enable_reminders": s.enable_reminders,
        "enable_owner_escalation": s.enable_owner_escalation,
        "debounce_seconds": s.debounce_seconds,
        "timezone": s.timezone,
    }


async def _require_client(db: asyncpg.Pool, slug: str) -> Client:
    client = await clients.by_slug(db, slug)
    if client is None:
        raise ValueError(f"no client with slug {slug!r}")
    return client


async def client_create(args: argparse.Namespace, settings: Settings) -> int:
    values: dict[str, Any] = {}
    for key in ("webhook_secret", "chatflow_token", "chatflow_instance_id", "telegram_token",
                "telegram_chat_id", "owner_ids"):
        raw = getattr(args, key)
        if raw is not None:
            column = {"telegram_token": "telegram_bot_token",
                      "owner_ids": "owner_telegram_ids"}.get(key, key)
            values[column] = clients.parse_setting(column, raw)
    async with open_database(settings, pool_size=2) as db:
        if await clients.by_slug(db.pool, args.slug):
            raise ValueError(f"client {args.slug!r} already exists")
        async with db.pool.acquire() as conn:
            try:
                client = await clients.create(conn, args.slug, args.name, **values)
            except asyncpg.CheckViolationError as exc:
                raise ValueError(f"invalid client: {exc.constraint_name}") from None
        summary = _client_summary(client, settings)
    if args.json:
        _print_json(summary)
    else:
        print(f"created client {client.slug}\nChatFlow webhook URL: {summary['webhook_url']}")
    return 0


async def client_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings, pool_size=2) as db:
        rows = [_client_summary(c, settings) for c in await clients.list_all(db.pool)]
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            desk = "desk" if row["telegram_desk"] else "no desk"
            print(f"{row['slug']:<24} {row['status']:<10} {desk:<8} {row['name']}")
        if not rows:
            print("no clients yet: python -m gateway client create SLUG --name NAME")
    return 0


async def client_show(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings, pool_size=2) as db:
        client = await _require_client(db.pool, args.slug)
        summary = _client_summary(client, settings)
        summary["branches"] = [
            {"slug": b.slug, "name": b.name, "instance_id": b.instance_id, "tag": b.knowledge_tag,
             "active": b.is_active}
            for b in await clients.branches(db.pool, client.id)
        ]
    if args.json:
        _print_json(summary)
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0


async def client_set(args: argparse.Namespace, settings: Settings) -> int:
    values: dict[str, Any] = {}
    status = None
    for pair in args.pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise ValueError(f"expected KEY=VALUE, got {pair!r}")
        if key == "status":
            if raw not in ("active", "suspended"):
                raise ValueError("status must be active or suspended")
            status = raw
            continue
        values[key] = clients.parse_setting(key, raw)
    if "escalation_policy" in values:
        values["escalation_policy"] = [t.as_dict() for t in parse_policy(values["escalation_policy"])]
    async with open_database(settings, pool_size=2) as db:
        client = await _require_client(db.pool, args.slug)
        try:
            await clients.update_settings(db.pool, client.id, values)
        except asyncpg.CheckViolationError as exc:
            raise ValueError(f"rejected: {_constraint_text(exc.constraint_name)}") from None
        if status:
            await clients.set_status(db.pool, client.id, status)
    print(f"updated {args.slug}: {', '.join(args.pairs)}")
    return 0


def _constraint_text(name: str | None) -> str:
    return {
        "reminder_2_after_1": "reminder_timeout_2 must be greater than reminder_timeout_1",
        "auto_close_after_reminder_2": "auto_close_timeout must be greater than reminder_timeout_2",
    }.get(name or "", f"value out of range ({name})")


async def client_policy(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings, pool_size=2) as db:
        client = await _require_client(db.pool, args.slug)
        if args.set:
            import yaml

            try:
                document = yaml.safe_load(Path(args.set).read_text("utf-8"))
            except (OSError, yaml.YAMLError) as exc:
                raise ValueError(f"cannot read policy file: {exc}") from None
            topics = parse_policy(document.get("topics", document) if isinstance(document, dict)
                                  else document)
            await clients.update_settings(
                db.pool, client.id, {"escalation_policy": [t.as_dict() for t in topics]}
            )
            print(f"policy of {args.slug}: {len(topics)} topics")
            return 0
        topics = parse_policy(client.settings.escalation_policy) \
            if client.settings.escalation_policy is not None else DEFAULT_POLICY
    document = [t.as_dict() for t in topics]
    if args.json:
        _print_json(document)
    else:
        import yaml

        sys.stdout.write(yaml.safe_dump({"topics": document}, allow_unicode=True, sort_keys=False))
    return 0


async def branch_add(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings, pool_size=2) as db:
        client = await _require_client(db.pool, args.slug)
        try:
            branch = await clients.add_branch(
                db.pool, client.id, args.branch, args.name, instance_id=args.instance_id,
                telegram_chat_id=int(args.telegram_chat_id) if args.telegram_chat_id else None,
                knowledge_tag=args.tag, phone=args.phone,
            )
        except asyncpg.UniqueViolationError:
            raise ValueError("a branch with this slug or instance id already exists") from None
        except asyncpg.CheckViolationError:
            raise ValueError("branch slug must be lowercase letters, digits, - or _") from None
    print(f"added branch {branch.slug} to {args.slug}")
    return 0


async def branch_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings, pool_size=2) as db:
        client = await _require_client(db.pool, args.slug)
        rows = [
            {"slug": b.slug, "name": b.name, "instance_id": b.instance_id,
             "telegram_chat_id": b.telegram_chat_id, "knowledge_tag": b.knowledge_tag,
             "phone": b.phone, "active": b.is_active}
            for b in await clients.branches(db.pool, client.id)
        ]
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            print(f"{row['slug']:<16} {row['instance_id'] or '-':<16} {row['knowledge_tag'] or '-':<12} "
                  f"{row['name']}")
    return 0


async def prompt_set(args: argparse.Namespace, settings: Settings) -> int:
    try:
        text = Path(args.file).read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {args.file}: {exc}") from None
    if not text:
        raise ValueError("the prompt file is empty")
    async with open_database(settings, pool_size=2) as db:
        client = await _require_client(db.pool, args.slug)
        async with db.pool.acquire() as conn:
            await clients.set_prompt(conn, client.id, text)
    print(f"system prompt of {args.slug} set ({len(text)} characters)")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    client = commands.add_parser("client", help="create, list, show and configure clients")
    client_cmds = client.add_subparsers(dest="client_command", required=True, metavar="ACTION")

    create = client_cmds.add_parser("create", help="create a client (tenant)")
    create.add_argument("slug")
    create.add_argument("--name", required=True)
    create.add_argument("--webhook-secret", help="default: a random secret")
    create.add_argument("--chatflow-token")
    create.add_argument("--chatflow-instance", dest="chatflow_instance_id")
    create.add_argument("--telegram-token")
    create.add_argument("--telegram-chat-id")
    create.add_argument("--owner-ids", help="comma-separated Telegram ids")
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=client_create)

    listing = client_cmds.add_parser("list", help="list clients")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=client_list)

    show = client_cmds.add_parser("show", help="show a client and its ChatFlow webhook URL")
    show.add_argument("slug")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=client_show)

    setter = client_cmds.add_parser("set", help="change settings: KEY=VALUE …")
    setter.add_argument("slug")
    setter.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    setter.set_defaults(handler=client_set)

    policy = client_cmds.add_parser("policy", help="show or replace the escalation policy")
    policy.add_argument("slug")
    policy.add_argument("--set", metavar="FILE.yaml")
    policy.add_argument("--json", action="store_true")
    policy.set_defaults(handler=client_policy)

    branch = commands.add_parser("branch", help="add and list branches")
    branch_cmds = branch.add_subparsers(dest="branch_command", required=True, metavar="ACTION")
    add = branch_cmds.add_parser("add", help="add a branch")
    add.add_argument("slug")
    add.add_argument("branch")
    add.add_argument("--name", required=True)
    add.add_argument("--instance-id")
    add.add_argument("--telegram-chat-id")
    add.add_argument("--tag", help="knowledge tag (extra RAG filter)")
    add.add_argument("--phone")
    add.set_defaults(handler=branch_add)
    blist = branch_cmds.add_parser("list", help="list branches")
    blist.add_argument("slug")
    blist.add_argument("--json", action="store_true")
    blist.set_defaults(handler=branch_list)

    prompt = commands.add_parser("prompt", help="set the system prompt")
    prompt_cmds = prompt.add_subparsers(dest="prompt_command", required=True, metavar="ACTION")
    pset = prompt_cmds.add_parser("set", help="set the system prompt from a file (history kept)")
    pset.add_argument("slug")
    pset.add_argument("file")
    pset.set_defaults(handler=prompt_set)

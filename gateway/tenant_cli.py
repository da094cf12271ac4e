"""Operator commands for tenants: `client …`, `branch …`, `prompt set`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from gateway import hours_admin, lifecycle_cli, tenant_admin
from gateway.settings import Settings
from gateway.wiring import build_system
from storage.repositories import clients

ACTOR = "cli"


def _print_json(document: Any) -> None:
    print(json.dumps(document, ensure_ascii=False, indent=2, default=str))


async def client_create(args: argparse.Namespace, settings: Settings) -> int:
    values = {column: getattr(args, option) for option, column in (
        ("webhook_secret", "webhook_secret"), ("chatflow_token", "chatflow_token"),
        ("chatflow_instance_id", "chatflow_instance_id"), ("telegram_token", "telegram_bot_token"),
        ("telegram_chat_id", "telegram_chat_id"), ("owner_ids", "owner_telegram_ids"),
    ) if getattr(args, option) is not None}
    async with build_system(settings) as system:
        pool = system.database.pool
        client = await tenant_admin.create_client(pool, args.slug, args.name, values, actor=ACTOR)
    summary = tenant_admin.client_summary(client, settings)
    if args.json:
        _print_json(summary)
    else:
        print(f"created client {client.slug}\nChatFlow webhook URL: {summary['webhook_url']}")
    return 0


async def client_list(args: argparse.Namespace, settings: Settings) -> int:
    async with build_system(settings) as system:
        pool = system.database.pool
        rows = [tenant_admin.client_summary(c, settings) for c in await clients.list_all(pool)]
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        desk = "desk" if row["telegram_desk"] else "no desk"
        print(f"{row['slug']:<24} {row['status']:<10} {desk:<8} {row['name']}")
    if not rows:
        print("no clients yet: python -m gateway client create SLUG --name NAME")
    return 0


async def client_show(args: argparse.Namespace, settings: Settings) -> int:
    async with build_system(settings) as system:
        pool = system.database.pool
        client = await tenant_admin.require_client(pool, args.slug)
        summary = tenant_admin.client_summary(client, settings)
        summary["branches"] = [tenant_admin.branch_summary(b)
                               for b in await clients.branches(pool, client.id)]
    if args.json:
        _print_json(summary)
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0


async def client_set(args: argparse.Namespace, settings: Settings) -> int:
    values = dict(args.pairs)
    status = values.pop("status", None)
    async with build_system(settings) as system:
        pool = system.database.pool
        await tenant_admin.update_client(pool, args.slug, values, status=status, actor=ACTOR)
    # Names only: values may be tokens and secrets.
    print(f"updated {args.slug}: {', '.join(sorted([*values, *(['status'] if status else [])]))}")
    return 0


async def client_policy(args: argparse.Namespace, settings: Settings) -> int:
    async with build_system(settings) as system:
        pool = system.database.pool
        if args.set:
            document = _read_yaml(args.set, "policy")
            topics = tenant_admin.policy_topics(document)
            await tenant_admin.update_client(pool, args.slug, {"escalation_policy": topics},
                                             actor=ACTOR)
            print(f"policy of {args.slug}: {len(topics)} topics")
            return 0
        document = await tenant_admin.policy(pool, args.slug)
    if args.json:
        _print_json(document)
    else:
        sys.stdout.write(yaml.safe_dump({"topics": document}, allow_unicode=True, sort_keys=False))
    return 0


async def client_hours(args: argparse.Namespace, settings: Settings) -> int:
    async with build_system(settings) as system:
        pool = system.database.pool
        if args.set or args.clear:
            document = _read_yaml(args.set, "working hours") if args.set else None
            summary = await hours_admin.set_hours(pool, args.slug, document, branch_slug=args.branch,
                                                  actor=ACTOR)
        else:
            summary = await hours_admin.show_hours(pool, args.slug, args.branch)
    if args.json:
        _print_json(summary)
    else:
        sys.stdout.write(yaml.safe_dump(summary, allow_unicode=True, sort_keys=False))
    return 0


def _read_yaml(path: str, what: str) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read {what} file {path}: {exc}") from None


async def branch_add(args: argparse.Namespace, settings: Settings) -> int:
    async with build_system(settings) as system:
        pool = system.database.pool
        branch = await tenant_admin.add_branch(
            pool, args.slug, args.branch, args.name, actor=ACTOR, instance_id=args.instance_id,
            telegram_chat_id=args.telegram_chat_id,
            knowledge_tag=args.tag, phone=args.phone)
    print(f"added branch {branch.slug} to {args.slug}")
    return 0


async def branch_list(args: argparse.Namespace, settings: Settings) -> int:
    async with build_system(settings) as system:
        pool = system.database.pool
        client = await tenant_admin.require_client(pool, args.slug)
        rows = [tenant_admin.branch_summary(b) for b in await clients.branches(pool, client.id)]
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        print(f"{row['slug']:<16} {row['instance_id'] or '-':<16} {row['knowledge_tag'] or '-':<12} "
              f"{row['name']}")
    if not rows:
        print(f"no branches yet: python -m gateway branch add {args.slug} BRANCH --name NAME")
    return 0


async def prompt_set(args: argparse.Namespace, settings: Settings) -> int:
    try:
        text = Path(args.file).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {args.file}: {exc}") from None
    async with build_system(settings) as system:
        pool = system.database.pool
        await tenant_admin.set_prompt(pool, args.slug, text, actor=ACTOR)
    print(f"system prompt of {args.slug} set ({len(text.strip())} characters)")
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
    create.add_argument("--telegram-chat-id", type=lifecycle_cli.telegram_id)
    create.add_argument("--owner-ids", type=lifecycle_cli.telegram_ids,
                        help="comma-separated Telegram ids")
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=client_create)

    listing = client_cmds.add_parser("list", help="list clients")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=client_list)

    show = client_cmds.add_parser("show", help="show a client and its ChatFlow webhook URL")
    show.add_argument("slug")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=client_show)

    setter = client_cmds.add_parser("set", help="change settings: KEY=VALUE … (status=suspended too)")
    setter.add_argument("slug")
    setter.add_argument("pairs", nargs="+", metavar="KEY=VALUE", type=lifecycle_cli.key_value)
    setter.set_defaults(handler=client_set)

    policy = client_cmds.add_parser("policy", help="show or replace the escalation policy")
    policy.add_argument("slug")
    policy.add_argument("--set", metavar="FILE.yaml")
    policy.add_argument("--json", action="store_true")
    policy.set_defaults(handler=client_policy)

    hours = client_cmds.add_parser(
        "hours", help="show or replace working hours (weekly schedule and dated exceptions)")
    hours.add_argument("slug")
    hours.add_argument("--branch", help="a branch's own hours (else the client's)")
    change = hours.add_mutually_exclusive_group()
    change.add_argument("--set", metavar="FILE.yaml",
                        help="weekly: {mon-fri: '10:00-20:00', sat: '10:00-16:00'}, "
                             "exceptions: {'2025-03-21': closed}")
    change.add_argument("--clear", action="store_true",
                        help="no hours: always open (a branch: the client's hours)")
    hours.add_argument("--json", action="store_true")
    hours.set_defaults(handler=client_hours)
    lifecycle_cli.register_client_actions(client_cmds)

    branch = commands.add_parser("branch", help="add and list branches")
    branch_cmds = branch.add_subparsers(dest="branch_command", required=True, metavar="ACTION")
    add = branch_cmds.add_parser("add", help="add a branch")
    add.add_argument("slug")
    add.add_argument("branch")
    add.add_argument("--name", required=True)
    add.add_argument("--instance-id")
    add.add_argument("--telegram-chat-id", type=lifecycle_cli.telegram_id)
    add.add_argument("--tag", help="knowledge tag (extra RAG filter)")
    add.add_argument("--phone")
    add.set_defaults(handler=branch_add)
    blist = branch_cmds.add_parser("list", help="list branches")
    blist.add_argument("slug")
    blist.add_argument("--json", action="store_true")
    blist.set_defaults(handler=branch_list)
    lifecycle_cli.register_branch_actions(branch_cmds)

    prompt = commands.add_parser("prompt", help="set the system prompt")
    prompt_cmds = prompt.add_subparsers(dest="prompt_command", required=True, metavar="ACTION")
    pset = prompt_cmds.add_parser("set", help="set the system prompt from a file (history kept)")
    pset.add_argument("slug")
    pset.add_argument("file")
    pset.set_defaults(handler=prompt_set)

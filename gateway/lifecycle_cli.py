"""Data-lifecycle commands (issue 14.6): `client export|delete|suspend|resume`, `branch
set|deactivate|activate` (added to the `client` and `branch` commands of `tenant_cli`), and
`customer export|erase`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gateway import lifecycle, tenant_admin
from gateway.settings import Settings
from gateway.wiring import build_system

ACTOR = "cli"


def _print_json(document: Any) -> None:
    print(json.dumps(document, ensure_ascii=False, indent=2, default=str))


def _write(document: Any, output: Path | None) -> None:
    if output is None:
        _print_json(document)
        return
    try:
        output.write_text(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n",
                          "utf-8")
    except OSError as exc:
        raise ValueError(f"cannot write {output}: {exc}") from None
    print(f"written to {output}", file=sys.stderr)


def _confirmed(args: argparse.Namespace, what: str) -> bool:
    if not args.yes:
        print(f"error: {what} cannot be undone: add --yes", file=sys.stderr)
    return bool(args.yes)


async def client_export(args: argparse.Namespace, settings: Settings) -> int:
    async with build_system(settings) as system:
        document = await lifecycle.export_client(system.database.pool, args.slug, settings,
                                                 with_secrets=args.with_secrets)
    _write(document, args.output)
    return 0


async def client_delete(args: argparse.Namespace, settings: Settings) -> int:
    if not _confirmed(args, f"deleting client {args.slug} and everything it owns"):
        return 2
    async with build_system(settings) as system:  # refuse a typo before opening the store
        await tenant_admin.require_client(system.database.pool, args.slug)
    async with build_system(settings, knowledge=True) as system:
        result = await lifecycle.delete_client(
            system.database.pool, args.slug,
            system.knowledge.current if system.knowledge else None, settings.data_dir,
            actor=ACTOR)
    if args.json:
        _print_json(result)
    else:
        print(f"deleted client {args.slug}: {sum(result['rows'].values())} rows, "
              f"{result['vectors']} vectors, {result['media_files']} media files")
    return 0


async def client_status(args: argparse.Namespace, settings: Settings) -> int:
    status = "suspended" if args.client_command == "suspend" else "active"
    async with build_system(settings) as system:
        await lifecycle.set_status(system.database.pool, args.slug, status, actor=ACTOR)
    print(f"{args.slug}: {status}")
    return 0


def key_value(pair: str) -> tuple[str, str]:
    """A `KEY=VALUE` argument (the value as typed; the service validates it): anything else is
    a bad argument, which argparse answers with its usage line and exit code 2."""
    key, sep, raw = pair.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {pair!r}")
    return key, raw


def telegram_id(text: str) -> int:
    """A Telegram chat or user id (a whole number, negative for a group)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a Telegram id: {text!r}") from None


def telegram_ids(text: str) -> list[int]:
    """Comma-separated Telegram ids."""
    return [telegram_id(part.strip()) for part in text.split(",") if part.strip()]


async def branch_set(args: argparse.Namespace, settings: Settings) -> int:
    return await _edit_branch(args, settings, dict(args.pairs))


async def branch_active(args: argparse.Namespace, settings: Settings) -> int:
    return await _edit_branch(args, settings, {"active": args.branch_command == "activate"})


async def _edit_branch(args: argparse.Namespace, settings: Settings, values: dict[str, Any]) -> int:
    async with build_system(settings) as system:
        branch = await lifecycle.edit_branch(system.database.pool, args.slug, args.branch, values,
                                             actor=ACTOR)
    summary = tenant_admin.branch_summary(branch)
    if getattr(args, "json", False):
        _print_json(summary)
    else:
        print(f"branch {branch.slug} of {args.slug}: "
              + ", ".join(f"{key}={summary[key]}" for key in sorted(values)))
    return 0


async def customer_export(args: argparse.Namespace, settings: Settings) -> int:
    async with build_system(settings) as system:
        document = await lifecycle.export_customer(system.database.pool, args.slug, args.phone)
    _write(document, args.output)
    return 0


async def customer_erase(args: argparse.Namespace, settings: Settings) -> int:
    if not _confirmed(args, "erasing a customer's data"):
        return 2
    async with build_system(settings) as system:
        result = await lifecycle.erase_customer(system.database.pool, args.slug, args.phone,
                                                settings.data_dir, actor=ACTOR)
    if args.json:
        _print_json(result)
    else:
        print(f"erased: {result['messages']} messages, {result['events']} events, "
              f"{result['handovers']} requests made anonymous, {result['media_files']} media files")
    return 0


def register_client_actions(client_cmds: Any) -> None:
    export = client_cmds.add_parser(
        "export", help="settings, policy, prompts, replies, branches, documents and learned "
                       "answers as JSON (no credentials unless --with-secrets)")
    export.add_argument("slug")
    export.add_argument("--with-secrets", action="store_true",
                        help="include tokens and webhook secrets")
    export.add_argument("--output", type=Path, metavar="FILE", help="write here, not to stdout")
    export.set_defaults(handler=client_export)

    delete = client_cmds.add_parser("delete", help="delete a client and everything it owns "
                                                   "(rows, vectors, media files)")
    delete.add_argument("slug")
    delete.add_argument("--yes", action="store_true", help="confirm: it cannot be undone")
    delete.add_argument("--json", action="store_true")
    delete.set_defaults(handler=client_delete)

    for name, text in (("suspend", "stop answering: messages are stored, not answered"),
                       ("resume", "answer again")):
        parser = client_cmds.add_parser(name, help=text)
        parser.add_argument("slug")
        parser.set_defaults(handler=client_status)


def register_branch_actions(branch_cmds: Any) -> None:
    setter = branch_cmds.add_parser(
        "set", help="change a branch: name, instance_id, phone, telegram_chat_id, "
                    "knowledge_tag, active (KEY= unsets)")
    setter.add_argument("slug")
    setter.add_argument("branch")
    setter.add_argument("pairs", nargs="+", metavar="KEY=VALUE", type=key_value)
    setter.add_argument("--json", action="store_true")
    setter.set_defaults(handler=branch_set)
    for name, text in (("deactivate", "stop routing to a branch (its number is handled at "
                                      "client level)"), ("activate", "route to it again")):
        parser = branch_cmds.add_parser(name, help=text)
        parser.add_argument("slug")
        parser.add_argument("branch")
        parser.set_defaults(handler=branch_active)


def register(commands: Any) -> None:
    customer = commands.add_parser("customer", help="one customer's data: export or erase")
    actions = customer.add_subparsers(dest="customer_command", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="everything stored about a customer, as JSON")
    export.add_argument("slug")
    export.add_argument("phone", help="the number, e.g. +77011234567 or 8 701 123 45 67")
    export.add_argument("--output", type=Path, metavar="FILE", help="write here, not to stdout")
    export.set_defaults(handler=customer_export)
    erase = actions.add_parser("erase", help="erase a customer's messages, events, requests' "
                                             "texts and media; an anonymous audit line stays")
    erase.add_argument("slug")
    erase.add_argument("phone")
    erase.add_argument("--yes", action="store_true", help="confirm: it cannot be undone")
    erase.add_argument("--json", action="store_true")
    erase.set_defaults(handler=customer_erase)

"""Operator commands of the desk: `reply …` (managers' saved replies, sent with `/t NAME` in a
customer's topic) and `stats` (the owner's figures of a period)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway import desk_admin
from gateway.settings import Settings
from gateway.wiring import build_system

ACTOR = "cli"


def _print_json(document: Any) -> None:
    print(json.dumps(document, ensure_ascii=False, indent=2, default=str))


async def reply_list(args: argparse.Namespace, settings: Settings) -> int:
    async with build_system(settings) as system:
        rows = await desk_admin.list_replies(system.database.pool, args.slug)
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        print(f"{row['name']:<20} {' '.join(row['text'].split())[:90]}")
    if not rows:
        print(f"no saved replies yet: python -m gateway reply set {args.slug} NAME TEXT")
    return 0


async def reply_set(args: argparse.Namespace, settings: Settings) -> int:
    if (args.text is None) == (args.file is None):
        raise ValueError("give the reply's TEXT or --file FILE (one of them)")
    text = args.text
    if args.file is not None:
        try:
            text = Path(args.file).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read {args.file}: {exc}") from None
    async with build_system(settings) as system:
        name, created = await desk_admin.put_reply(system.database.pool, args.slug, args.name,
                                                   text, actor=ACTOR)
    print(f"{'added' if created else 'replaced'} reply {name} of {args.slug}")
    return 0


async def reply_delete(args: argparse.Namespace, settings: Settings) -> int:
    async with build_system(settings) as system:
        await desk_admin.delete_reply(system.database.pool, args.slug, args.name, actor=ACTOR)
    print(f"deleted reply {args.name.strip().lower()} of {args.slug}")
    return 0


async def stats(args: argparse.Namespace, settings: Settings) -> int:
    async with build_system(settings) as system:
        document = await desk_admin.stats(system.database.pool, args.slug, args.start, args.end,
                                          datetime.now(UTC))
    if args.json:
        _print_json(document)
        return 0
    take = (f"{document['median_take_seconds'] / 60:.1f} / {document['worst_take_seconds'] / 60:.1f}"
            if document["median_take_seconds"] is not None else "-")
    lines = [f"{document['client']}: {document['start']} .. {document['end']}",
             f"customers {document['customers']}, messages {document['messages']}, "
             f"bot answers {document['bot_answers']}, "
             f"without a manager {document['bot_only_customers']}",
             f"escalated {document['escalated']}: " + (", ".join(
                 f"{topic} {count}" for topic, count in sorted(document["escalations"].items()))
                 or "-"),
             f"time to take, median / worst (min): {take} over {document['taken']}",
             "closed: " + (", ".join(f"{k} {v}" for k, v in sorted(document["resolutions"].items()))
                           or "-"),
             f"unresolved {document['unresolved_total']}"]
    lines += [f"  {u['customer_name'] or '-'} +{u['phone'] or ''} {u['trigger_value'] or '-'} "
              f"{u['status']} {u['waited_seconds'] // 60} min {u['topic_url'] or ''}".rstrip()
              for u in document["unresolved"]]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    reply = commands.add_parser("reply", help="managers' saved replies (/t NAME in a topic)")
    actions = reply.add_subparsers(dest="reply_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list a client's saved replies")
    listing.add_argument("slug")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=reply_list)
    setter = actions.add_parser("set", help="add or replace a reply ({customer_name} is filled in)")
    setter.add_argument("slug")
    setter.add_argument("name", help="1-40 letters, digits, _ or -")
    setter.add_argument("text", nargs="?", help="the reply (or --file)")
    setter.add_argument("--file", help="read the reply from a UTF-8 file")
    setter.set_defaults(handler=reply_set)
    deleter = actions.add_parser("delete", help="delete a reply")
    deleter.add_argument("slug")
    deleter.add_argument("name")
    deleter.set_defaults(handler=reply_delete)

    report = commands.add_parser("stats", help="the owner's figures of a period (as /stats)")
    report.add_argument("slug")
    report.add_argument("--from", dest="start", help="date (local) or ISO date-time; default today")
    report.add_argument("--to", dest="end", help="date (included) or ISO date-time; default now")
    report.add_argument("--json", action="store_true")
    report.set_defaults(handler=stats)

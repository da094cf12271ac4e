"""`knowledge rebuild` and `knowledge learned list|show|delete` (issue 14.4 and 14.6), added to
the `knowledge` command by `gateway/knowledge_cli.py`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.knowledge_types import LearnedAnswer
from gateway.settings import Settings
from gateway.wiring import build_system
from storage.repositories.knowledge_archive import PgKnowledgeArchive

ACTIONS = {"rebuild", "learned"}


def register_actions(actions: Any) -> None:
    rebuild = actions.add_parser(
        "rebuild", help="embed every stored document and learned answer again: all into a "
                        "fresh collection that takes over when complete, or one client in place")
    rebuild.add_argument("--client", help="only this client (in the serving collection)")
    rebuild.add_argument("--force", action="store_true",
                         help="leave out documents that have no stored text (see the error)")
    rebuild.add_argument("--json", action="store_true", help="print one JSON document")

    learned = actions.add_parser("learned", help="list, show or delete learned answers")
    learned_actions = learned.add_subparsers(dest="learned_action", required=True,
                                             metavar="ACTION")
    listing = learned_actions.add_parser("list", help="a client's learned answers")
    listing.add_argument("--client", required=True, help="client slug")
    listing.add_argument("--tag", help="only this branch tag's")
    listing.add_argument("--json", action="store_true", help="print one JSON document")
    for name, text in (("show", "one learned answer"),
                       ("delete", "delete one learned answer (its vector too)")):
        one = learned_actions.add_parser(name, help=text)
        one.add_argument("--client", required=True, help="client slug")
        one.add_argument("answer_id", metavar="ID")
        one.add_argument("--json", action="store_true", help="print one JSON document")


async def handle(args: argparse.Namespace, settings: Settings) -> int:
    if args.knowledge_action == "rebuild":
        return await _rebuild(args, settings)
    # Reading needs only the database; deleting needs the vector store too.
    deleting = args.learned_action == "delete"
    async with build_system(settings, knowledge=deleting) as system:
        if await system.tenants.client_by_slug(args.client) is None:
            raise ValueError(f"no client with slug {args.client!r}")
        archive = PgKnowledgeArchive(system.database.pool)
        if args.learned_action == "list":
            answers = await archive.learned(args.client, args.tag)
            if args.json:
                _print_json({"client": args.client, "learned": [learned_json(a) for a in answers]})
            for answer in [] if args.json else answers:
                print(f"{answer.id}  {answer.knowledge_tag or '-':<10} {_one_line(answer.question)}")
            if not answers and not args.json:
                print("no learned answers")
            return 0
        if args.learned_action == "show":
            answer = await archive.learned_one(args.client, args.answer_id)
            if answer is None:
                raise ValueError(f"client {args.client} has no learned answer {args.answer_id}")
            if args.json:
                _print_json(learned_json(answer))
            else:
                print(f"id: {answer.id}\ntag: {answer.knowledge_tag or '-'}\n"
                      f"created: {answer.created_at}\nquestion: {answer.question}\n"
                      f"answer: {answer.answer}")
            return 0
        assert system.knowledge is not None and system.knowledge.current is not None
        if not await system.knowledge.current.forget(args.client, args.answer_id):
            raise ValueError(f"client {args.client} has no learned answer {args.answer_id}")
        if args.json:
            _print_json({"client": args.client, "deleted": args.answer_id})
        else:
            print(f"deleted learned answer {args.answer_id}")
        return 0


async def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.knowledge_rebuild import rebuild_all, rebuild_client

    if args.client:
        async with build_system(settings, knowledge=True) as system:
            if await system.tenants.client_by_slug(args.client) is None:
                raise ValueError(f"no client with slug {args.client!r}")
            assert system.knowledge is not None and system.knowledge.current is not None
            result = await rebuild_client(system.knowledge.current, args.client)
    else:
        async with build_system(settings) as system:
            result = await rebuild_all(settings, system.database.pool, force=args.force,
                                       progress=lambda line: print(line, file=sys.stderr))
    if args.json:
        _print_json(result)
    else:
        print(f"rebuilt {result['collection']}: {result['documents']} documents, "
              f"{result['chunks']} chunks, {result['learned']} learned answers"
              + (f", {result['removed']} stray points removed" if result["removed"] else ""))
    return 0


def learned_json(answer: LearnedAnswer) -> dict[str, Any]:
    return {"id": answer.id, "question": answer.question, "answer": answer.answer,
            "knowledge_tag": answer.knowledge_tag,
            "created_at": answer.created_at.isoformat() if answer.created_at else None}


def _one_line(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _print_json(document: Any) -> None:
    print(json.dumps(document, ensure_ascii=False))

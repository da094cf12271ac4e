"""`python -m gateway knowledge …` (WIRE.md §6): ingest, list, search, delete, eval.

`register(subparsers)` adds the command with `handler=handle`, which builds the system with its
knowledge base (`gateway.wiring.build_system`) and runs `run(args, kb)`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.knowledge import KnowledgeBase
from documents import SUFFIXES, UnreadableDocument, format_for_path, to_markdown
from gateway import knowledge_ops_cli
from gateway.knowledge_eval import BASES
from gateway.settings import Settings
from gateway.wiring import build_system

DOCUMENT_SUFFIXES = tuple(SUFFIXES)


def register(subparsers: Any) -> None:
    knowledge = subparsers.add_parser("knowledge", help="manage a client's knowledge base")
    actions = knowledge.add_subparsers(dest="knowledge_action", required=True, metavar="ACTION")

    ingest = _action(actions, "ingest", "ingest .md/.txt/.html/.pdf/.docx files or folders")
    ingest.add_argument("--client", required=True, help="client slug")
    ingest.add_argument("--tag", help="knowledge tag (branch filter)")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")

    listing = _action(actions, "list", "list a client's documents")
    listing.add_argument("--client", required=True, help="client slug")

    search = _action(actions, "search", "ranked passages for a question")
    search.add_argument("--client", required=True, help="client slug")
    search.add_argument("--tag", help="knowledge tag (branch filter)")
    search.add_argument("--limit", type=_search_limit, default=5,
                        help="passages to return, 1-20 (default 5)")
    search.add_argument("query", nargs="+", metavar="QUERY")

    delete = _action(actions, "delete", "delete a document (learned answers stay)")
    delete.add_argument("--client", required=True, help="client slug")
    delete.add_argument("doc_name", metavar="DOC_NAME")

    evaluation = _action(actions, "eval", "retrieval and no-LLM answer quality on the "
                         "labelled sets (knowledge/eval/retrieval), per base and question kind")
    evaluation.add_argument("--split", choices=("dev", "held-out", "all"), default="held-out",
                            help="which questions (default held-out)")
    evaluation.add_argument("--base", action="append", choices=BASES,
                            help="only this base (repeatable; default every base)")
    evaluation.add_argument("--cache", type=Path, metavar="FILE",
                            help="keep the embeddings in FILE between runs (.npz)")
    evaluation.add_argument("--out-of-fold", action="store_true",
                            help="with --split dev: each base searched under a query map "
                                 "fitted without its questions (what the map gives a new "
                                 "client's; the shipped map was fitted on the dev split)")
    evaluation.add_argument("--calibrate-no-answer", action="store_true",
                            help="fit the no-answer model on the dev split and print it with "
                                 "its cross-validation (core.no_answer)")
    evaluation.add_argument("--fit-query-map", type=Path, metavar="FILE",
                            help="fit the embedder's query map on the dev split, print its "
                                 "cross-validation and save it to FILE (core.query_map)")
    knowledge_ops_cli.register_actions(actions)
    knowledge.set_defaults(handler=handle)


def _search_limit(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if not 1 <= value <= 20:
        raise argparse.ArgumentTypeError("must be between 1 and 20")
    return value


def _action(actions: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


READ_ONLY_ACTIONS = {"list", "search", "eval"}


async def handle(args: argparse.Namespace, settings: Settings) -> int:
    if args.knowledge_action in knowledge_ops_cli.ACTIONS:
        return await knowledge_ops_cli.handle(args, settings)
    # Reading works next to a running server (on a snapshot of its embedded store); writing
    # needs the store itself, or the running server's admin API.
    async with build_system(settings, knowledge=True,
                            knowledge_snapshot=args.knowledge_action in READ_ONLY_ACTIONS) as system:
        client = getattr(args, "client", None)
        if client is not None and await system.tenants.client_by_slug(client) is None:
            raise ValueError(f"no client with slug {client!r}")
        assert system.knowledge is not None and system.knowledge.current is not None
        return await run(args, system.knowledge.current)


async def run(args: argparse.Namespace, kb: KnowledgeBase) -> int:
    action = {
        "ingest": _ingest,
        "list": _list,
        "search": _search,
        "delete": _delete,
        "eval": _eval,
    }[args.knowledge_action]
    return await action(args, kb)


def knowledge_files(paths: Sequence[Path]) -> list[tuple[str, Path]]:
    """(doc_name, file) pairs: a file is named by its stem, a folder's files by their path
    relative to the folder without suffix ("faq/prices"). Two files that would be one document
    ("prices.md" and "prices.pdf") are refused rather than one silently replacing the other."""
    found: list[tuple[str, Path]] = []
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if file.is_file() and format_for_path(file) is not None:
                    found.append((file.relative_to(path).with_suffix("").as_posix(), file))
        elif path.is_file():
            if format_for_path(path) is None:
                raise ValueError(f"{path}: not a supported document "
                                 f"({', '.join(DOCUMENT_SUFFIXES)})")
            found.append((path.stem, path))
        else:
            raise ValueError(f"no such file or folder: {path}")
    names: dict[str, Path] = {}
    for doc_name, file in found:
        if (other := names.setdefault(doc_name, file)) != file:
            raise ValueError(f"{other} and {file} would both be document {doc_name!r}; "
                             "rename one")
    return found


def read_document(file: Path) -> str:
    """The file as the Markdown the chunker reads (converted from HTML, PDF or DOCX)."""
    document_format = format_for_path(file)
    assert document_format is not None
    try:
        return to_markdown(file.read_bytes(), document_format)
    except OSError as exc:
        raise ValueError(f"{file}: cannot read it ({exc.strerror or exc})") from None
    except UnreadableDocument as exc:
        raise ValueError(f"{file}: {exc}") from None


async def _ingest(args: argparse.Namespace, kb: KnowledgeBase) -> int:
    files = knowledge_files(args.paths)
    if not files:
        raise ValueError(f"no documents found ({', '.join(DOCUMENT_SUFFIXES)})")
    # Every file is read before the first is stored: a broken one stops the run with nothing
    # half-loaded.
    texts = [await asyncio.to_thread(read_document, file) for _, file in files]
    reports = []
    for number, ((doc_name, _), text) in enumerate(zip(files, texts, strict=True), 1):
        report = await kb.ingest_document(args.client, doc_name, text, knowledge_tag=args.tag)
        reports.append(report)
        state = f"+{report.added} -{report.removed}" if report.changed else "unchanged"
        print(f"[{number}/{len(files)}] {doc_name}: {report.chunks} chunks ({state})",
              file=sys.stderr)
    if args.json:
        _print_json({"client": args.client, "documents": [
            {"doc_name": r.doc_name, "chunks": r.chunks, "added": r.added, "removed": r.removed}
            for r in reports
        ]})
    else:
        print(f"ingested {len(reports)} documents, {sum(r.chunks for r in reports)} chunks")
    return 0


async def _list(args: argparse.Namespace, kb: KnowledgeBase) -> int:
    documents = await kb.list_documents(args.client)
    if args.json:
        _print_json({"client": args.client, "documents": [asdict(d) for d in documents]})
        return 0
    for d in documents:
        print(f"{d.doc_name:<32} {d.source:<8} {d.chunks:>5} {d.knowledge_tag or '-':<12} "
              f"{d.updated_at or '-'}")
    if not documents:
        print("no documents")
    return 0


async def _search(args: argparse.Namespace, kb: KnowledgeBase) -> int:
    result = await kb.search(
        args.client, " ".join(args.query), knowledge_tag=args.tag, limit=args.limit
    )
    if not result.ok:
        raise ValueError(f"search failed: {result.error}")
    passages = result.value or []
    if args.json:
        _print_json({"client": args.client, "passages": [asdict(p) for p in passages]})
        return 0
    for p in passages:
        part = f"  (for the part «{p.part}»)" if p.part else ""
        print(f"{p.score:.3f}  {p.doc_name}  [{p.source}]{part}\n{p.content}\n")
    if not passages:
        print("nothing found")
    return 0


async def _delete(args: argparse.Namespace, kb: KnowledgeBase) -> int:
    removed = await kb.delete_document(args.client, args.doc_name)
    if not removed:
        raise ValueError(f"no document {args.doc_name!r} for client {args.client}")
    if args.json:
        _print_json({"client": args.client, "doc_name": args.doc_name, "chunks_removed": removed})
    else:
        print(f"deleted {args.doc_name}: {removed} chunks")
    return 0


async def _eval(args: argparse.Namespace, kb: KnowledgeBase) -> int:
    """The configured embedder and re-ranker on the labelled sets (a scratch store: the
    client's own knowledge is not touched)."""
    from ai.embedding_cache import CachedEmbedder
    from core.texts import CUSTOMER_DEFAULTS
    from gateway.knowledge_eval import evaluate, format_report, report

    split = None if args.split == "all" else args.split
    for option, given in (("--calibrate-no-answer", args.calibrate_no_answer),
                          ("--fit-query-map", args.fit_query_map),
                          ("--out-of-fold", args.out_of_fold)):
        if given and args.split != "dev":
            raise ValueError(f"{option} is for the dev split only: add --split dev")
    if args.out_of_fold and kb.thresholds.query_map is None:
        raise ValueError("--out-of-fold: this embedder has no query map (the bundled one has)")
    embedder = CachedEmbedder(kb.embedder, args.cache) if args.cache else kb.embedder
    bases = args.base or BASES
    try:
        if args.calibrate_no_answer:
            from gateway.no_answer_calibration import collect, format_calibration
            print(format_calibration(await collect(embedder, bases)))
            return 0
        if args.fit_query_map:
            from gateway.query_map_fitting import fit_and_save
            print(await fit_and_save(embedder, args.fit_query_map, bases))
            return 0
        if args.out_of_fold:
            from gateway.query_map_fitting import evaluate_out_of_fold
            outcomes = await evaluate_out_of_fold(embedder, bases, kb.reranker,
                                                  CUSTOMER_DEFAULTS["no_answer"])
        else:
            outcomes = await evaluate(embedder, split=split, bases=bases, reranker=kb.reranker,
                                      no_answer_text=CUSTOMER_DEFAULTS["no_answer"])
    finally:
        if isinstance(embedder, CachedEmbedder):
            embedder.save()
    result = report(outcomes)
    if args.json:
        _print_json({"embedder": kb.embedder.name, "split": args.split,
                     "out_of_fold": args.out_of_fold,
                     "reranker": kb.reranker.name if kb.reranker else None, **result})
    else:
        shown = "dev, each base under a query map fitted without it" if args.out_of_fold \
            else split
        print(format_report(kb.embedder.name, shown, result))
    return 0


def _print_json(document: dict[str, Any]) -> None:
    print(json.dumps(document, ensure_ascii=False))

"""`knowledge rebuild` (issue 14.4): the vectors made again from the texts archived in
PostgreSQL, into a fresh collection that takes over only once it is complete.

- Whole deployment: a new collection `<logical>__r<UTC time>` is filled from the archive while
  the gateways keep searching the old one; what changed meanwhile is caught up; then the
  database's pointer (`vector_collections`) moves to it and every gateway switches (NOTIFY
  `truffles_knowledge`, and a look a minute: `follow_rebuilds`). The replaced collection is
  deleted once nobody holds it. Works next to a running server, embedded store included (the
  new collection is a directory of its own).
- One client (`--client`): its points are embedded again in place in the serving collection
  (ids do not depend on the vectors, so its search keeps working), then its points that no
  text accounts for are deleted. With the embedded store this needs the store itself: run it
  through the server (`POST /admin/knowledge/{slug}/rebuild`) while one runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from core.knowledge import KnowledgeBase
from core.knowledge_rebuild import RebuildReport, adopt_unarchived, prune_client, reindex_client
from core.ports import Embedder
from gateway.settings import Settings
from gateway.supervised import KnowledgeHandle
from storage.notify import Wakeup
from storage.repositories import clients
from storage.repositories.knowledge_archive import (
    KNOWLEDGE_CHANNEL,
    PgKnowledgeArchive,
    activate_collection,
    active_collection,
    database_now,
)
from storage.vectors import (
    build_vector_store,
    collection_exists,
    drop_collection,
    logical_collection,
    rebuilt_collections,
)

log = logging.getLogger(__name__)
FOLLOW_EVERY_SECONDS = 60.0


class UnarchivedDocuments(ValueError):
    """Documents the live collection has but the archive has no text for (ingested before
    migration 0040): a rebuild would leave them out."""


async def rebuild_all(settings: Settings, pool: asyncpg.Pool, *, force: bool = False,
                      progress: Callable[[str], None] | None = None,
                      replaced_wait_seconds: float = 15.0) -> dict[str, Any]:
    """`replaced_wait_seconds`: how long to wait for the gateways to let go of the replaced
    collection (embedded store) before leaving it to the next rebuild."""
    from ai.embeddings import build_embedder, check_embedder

    say = progress or (lambda _line: None)
    embedder = build_embedder(settings.embeddings)
    try:
        dim = await check_embedder(embedder)
        logical = logical_collection(settings.vectors, embedder.name)
        current = await active_collection(pool, logical)
        replaced = current.active if current else logical
        archive = PgKnowledgeArchive(pool)
        slugs = [client.slug for client in await clients.list_all(pool)]
        missing = await _adopt(settings, embedder, dim, replaced, archive, slugs)
        if missing and not force:
            raise UnarchivedDocuments(
                f"{len(missing)} documents have no stored text (ingested before this version): "
                f"{', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}; ingest them again "
                "(knowledge ingest / PUT), or rebuild with --force to leave them out")
        for leftover in rebuilt_collections(settings.vectors, logical):
            if leftover != replaced:  # replaced by an earlier rebuild, held by a gateway then
                await drop_collection(settings.vectors, leftover, wait_seconds=0)
        now = datetime.now(UTC)
        physical = f"{logical}__r{now:%Y%m%d%H%M%S}{now.microsecond // 1000:03d}"
        try:
            report, points = await _fill(settings, embedder, dim, physical, archive, slugs, pool,
                                         say)
        except BaseException:
            await drop_collection(settings.vectors, physical, wait_seconds=0)
            raise
        await activate_collection(pool, logical, physical, embedder.name, dim, points)
        say(f"collection {physical} is serving ({points} points)")
        dropped = replaced != physical and await drop_collection(
            settings.vectors, replaced, wait_seconds=replaced_wait_seconds)
    finally:
        await embedder.aclose()
    return {"collection": physical, "replaced": replaced, "replaced_deleted": bool(dropped),
            "embedder": embedder.name, "dim": dim, "points": points,
            "left_out": missing, **report.as_dict()}


async def _adopt(settings: Settings, embedder: Embedder, dim: int, live_name: str,
                 archive: PgKnowledgeArchive, slugs: list[str]) -> list[str]:
    """Archive the learned answers only the live collection has; the documents only it has."""
    if not await collection_exists(settings.vectors, live_name):
        return []
    live = build_vector_store(settings.vectors, embedder, snapshot_if_busy=True,
                              collection=live_name)
    try:
        await live.ensure_collection(dim)
        return [f"{slug}/{name}" for slug in slugs
                for name in await adopt_unarchived(live, archive, slug)]
    finally:
        await live.aclose()


async def _fill(settings: Settings, embedder: Embedder, dim: int, physical: str,
                archive: PgKnowledgeArchive, slugs: list[str], pool: asyncpg.Pool,
                say: Callable[[str], None]) -> tuple[RebuildReport, int]:
    store = build_vector_store(settings.vectors, embedder, collection=physical)
    await store.ensure_collection(dim)
    try:
        kb = KnowledgeBase(embedder, store)  # no archive: the texts are read, not written
        started = await database_now(pool)
        report = RebuildReport()
        for number, slug in enumerate(slugs, 1):
            done = await reindex_client(kb, archive, slug, prune=False)
            report.add(done)
            say(f"[{number}/{len(slugs)}] {slug}: {done.documents} documents, {done.chunks} "
                f"chunks, {done.learned} learned answers")
        # What the running gateways changed while this one was being built.
        for slug in slugs:
            for document in await archive.documents(slug, since=started):
                await kb.index_document(slug, document.doc_name, document.content,
                                        document.knowledge_tag)
            for answer in await archive.learned(slug, since=started):
                await kb.index_learned(answer)
            report.removed += await prune_client(store, archive, slug)
        return report, await store.count()
    finally:
        await store.aclose()


async def rebuild_client(kb: KnowledgeBase, client_slug: str) -> dict[str, Any]:
    if kb.archive is None:
        raise ValueError("this knowledge base keeps no texts to rebuild from")
    report = await reindex_client(kb, kb.archive, client_slug, prune=True)
    return {"client": client_slug, "collection": kb.store.collection, **report.as_dict()}


async def switch_if_rebuilt(settings: Settings, pool: asyncpg.Pool, kb: KnowledgeBase) -> bool:
    """Move `kb` to the collection the database names for its embedder, when it is another."""
    logical = logical_collection(settings.vectors, kb.embedder.name)
    rebuilt = await active_collection(pool, logical)
    target = rebuilt.active if rebuilt else logical
    if target == kb.store.collection:
        return False
    store = build_vector_store(settings.vectors, kb.embedder, collection=target)
    try:
        await store.ensure_collection(rebuilt.dim if rebuilt else kb.embedder.dim)
    except BaseException:
        await store.aclose()
        raise
    old = kb.store.collection
    await kb.use_store(store)
    log.info("knowledge base switched to a rebuilt collection",
             extra={"collection": target, "replaced": old})
    return True


async def follow_rebuilds(settings: Settings, pool: asyncpg.Pool, dsn: str,
                          knowledge: KnowledgeHandle, *,
                          every: float = FOLLOW_EVERY_SECONDS) -> None:
    """A serving gateway's watch: switch when a rebuild announces its collection (or within
    `every` seconds when the announcement was missed). Runs until cancelled."""
    wakeup = Wakeup(dsn, (KNOWLEDGE_CHANNEL,))
    await wakeup.start()
    try:
        while True:
            await wakeup.wait(every)
            kb = knowledge.current
            if kb is None:
                continue
            try:
                await switch_if_rebuilt(settings, pool, kb)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next look tries again
                log.warning("could not switch to the rebuilt collection",
                            extra={"error": f"{type(exc).__name__}: {exc}"})
    finally:
        await wakeup.stop()

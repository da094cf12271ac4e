"""The demo tenant created on the embedded defaults, so that a fresh install can be tried at once."""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg

from core.knowledge import KnowledgeBase
from storage.repositories import clients

log = logging.getLogger(__name__)

DEMO_SLUG = "demo_salon"
DEMO_NAME = "Салон красоты «Лотос»"


async def seed_demo_client(pool: asyncpg.Pool) -> bool:
    """Create `demo_salon` when the database has no clients at all; True when it did."""
    async with pool.acquire() as conn, conn.transaction():
        # Two replicas starting at once must not both seed.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('truffles-demo-seed'))")
        if await clients.count(conn) > 0:
            return False
        await clients.create(conn, DEMO_SLUG, DEMO_NAME)
    log.info("created the demo client", extra={"client": DEMO_SLUG})
    return True


DEMO_KNOWLEDGE_DIR = Path(__file__).resolve().parent.parent / "knowledge" / DEMO_SLUG


async def load_demo_knowledge(pool: asyncpg.Pool, kb: KnowledgeBase) -> int:
    """Ingest the bundled demo salon documents when `demo_salon` exists and has no knowledge yet;
    returns the number of documents ingested."""
    if await clients.by_slug(pool, DEMO_SLUG) is None or not DEMO_KNOWLEDGE_DIR.is_dir():
        return 0
    if await kb.list_documents(DEMO_SLUG):
        return 0
    files = sorted(DEMO_KNOWLEDGE_DIR.glob("*.md"))
    for path in files:
        await kb.ingest_document(DEMO_SLUG, path.stem, path.read_text("utf-8"))
    log.info("loaded the demo knowledge", extra={"client": DEMO_SLUG, "documents": len(files)})
    return len(files)

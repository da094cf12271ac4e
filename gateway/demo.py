"""The demo tenant created on the embedded defaults, so that a fresh install can be tried at once."""

from __future__ import annotations

import logging

import asyncpg

from storage.repositories import clients

log = logging.getLogger(__name__)

DEMO_SLUG = "demo_salon"
DEMO_NAME = "Салон красоты «Труффль»"


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

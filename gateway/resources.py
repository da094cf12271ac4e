"""Opening the process's shared resources, for the app (cleanup_ctx) and the CLI alike."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from gateway.settings import Settings
from storage.database import connect, create_pool
from storage.embedded import EmbeddedPostgres
from storage.migrate import apply_migrations

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Database:
    dsn: str
    pool: asyncpg.Pool


@asynccontextmanager
async def database_dsn(settings: Settings) -> AsyncIterator[str]:
    """DATABASE_URL, or an embedded PostgreSQL under DATA_DIR started for the duration."""
    if settings.database_url is not None:
        yield settings.database_url.get_secret_value()
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    dsn = await asyncio.to_thread(embedded.start)
    try:
        yield dsn
    finally:
        await asyncio.to_thread(embedded.stop)


async def migrate(dsn: str) -> list[str]:
    conn = await connect(dsn)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()


@asynccontextmanager
async def open_database(settings: Settings, *, pool_size: int = 10) -> AsyncIterator[Database]:
    """Connect (starting the embedded server when needed), migrate, and hold a pool."""
    async with database_dsn(settings) as dsn:
        applied = await migrate(dsn)
        if applied:
            log.info("migrations applied", extra={"applied": ",".join(applied)})
        pool = await create_pool(dsn, max_size=pool_size)
        try:
            yield Database(dsn=dsn, pool=pool)
        finally:
            await pool.close()

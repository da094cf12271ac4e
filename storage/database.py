"""The asyncpg pool: JSON codecs, and the one place that knows how to reach PostgreSQL (the
configured server, or an embedded one under DATA_DIR), migrated before use."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson

from storage.embedded import EmbeddedPostgres
from storage.migrate import apply_migrations
from storage.settings import DatabaseSettings

log = logging.getLogger(__name__)

# Errors that mean "the database is not there right now" (as opposed to a bad query).
UNAVAILABLE = (
    OSError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    TimeoutError,
)


def _json_text(value: object) -> str:
    """UTF-8 JSON (no \\u escapes); keys that are not strings written as strings, as the json
    module does."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=_json_text, decoder=orjson.loads,
                                  schema="pg_catalog")


async def _no_session_reset(conn: asyncpg.Connection) -> None:
    """Pooled connections never LISTEN, take advisory locks or change session settings (that is
    what `connect`'s dedicated connections are for), so nothing needs resetting when one goes
    back to the pool: asyncpg's default reset query costs a round trip on every release. An
    open transaction is still rolled back by asyncpg before this is called."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection,
        reset=_no_session_reset, command_timeout=30, timeout=10,
        server_settings={"application_name": "truffles-gateway"},
    )


async def connect(dsn: str, *, server_settings: dict[str, str] | None = None) -> asyncpg.Connection:
    """A dedicated connection outside the pool (migrations, LISTEN, the leader lock), with extra
    session settings when given."""
    conn = await asyncpg.connect(dsn, timeout=10, server_settings={
        "application_name": "truffles-gateway", **(server_settings or {})})
    await _init_connection(conn)
    return conn


@dataclass(frozen=True, slots=True)
class Database:
    dsn: str
    pool: asyncpg.Pool


@asynccontextmanager
async def database_dsn(settings: DatabaseSettings) -> AsyncIterator[str]:
    """DATABASE_URL, or an embedded PostgreSQL under DATA_DIR started for the duration."""
    if settings.url is not None:
        yield settings.url.get_secret_value()
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    dsn = await asyncio.to_thread(embedded.start)
    try:
        yield dsn
    finally:
        await asyncio.to_thread(embedded.stop)


@asynccontextmanager
async def connection(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """One connection for a one-shot job (migrations, a backup's inventory), closed after."""
    conn = await connect(dsn)
    try:
        yield conn
    finally:
        await conn.close()


def with_database(dsn: str, name: str) -> str:
    """The same server's DSN for another database."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


@asynccontextmanager
async def scratch_database(server_dsn: str, prefix: str) -> AsyncIterator[str]:
    """A new database on the server (`prefix`_random), migrated; its DSN; dropped afterwards,
    its connections closed by force (tests and benchmarks)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            dsn = with_database(server_dsn, name)
            await migrate(dsn)
            yield dsn
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def migrate(dsn: str) -> list[str]:
    async with connection(dsn) as conn:
        return await apply_migrations(conn)


async def migrate_when_reachable(dsn: str, timeout: float) -> list[str]:
    """Migrate, waiting up to `timeout` seconds for the database to answer (a server still
    starting, a failover): the one dependency the gateway cannot start without."""
    deadline = asyncio.get_running_loop().time() + timeout
    pause = 0.5
    while True:
        try:
            return await migrate(dsn)
        except UNAVAILABLE as exc:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise ConnectionError(f"the database is not reachable ({type(exc).__name__}); "
                                      f"gave up after {timeout:g} s") from None
            log.warning("database not reachable yet, retrying",
                        extra={"error": type(exc).__name__, "seconds_left": round(left)})
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 5.0)


@asynccontextmanager
async def open_database(settings: DatabaseSettings) -> AsyncIterator[Database]:
    """Connect (starting the embedded server when needed), migrate, and hold a pool."""
    async with database_dsn(settings) as dsn:
        applied = await migrate_when_reachable(dsn, settings.start_timeout_seconds)
        if applied:
            log.info("migrations applied", extra={"applied": ",".join(applied)})
        pool = await create_pool(dsn, max_size=settings.pool_size)
        try:
            yield Database(dsn=dsn, pool=pool)
        finally:
            await pool.close()

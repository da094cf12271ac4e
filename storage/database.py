"""The asyncpg pool: JSON codecs, and the one place that knows how to reach PostgreSQL."""

from __future__ import annotations

import json

import asyncpg

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


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, encoder=lambda v: json.dumps(v, ensure_ascii=False), decoder=json.loads,
            schema="pg_catalog",
        )


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection,
        command_timeout=30, timeout=10,
        server_settings={"application_name": "truffles-gateway"},
    )


async def connect(dsn: str, *, server_settings: dict[str, str] | None = None) -> asyncpg.Connection:
    """A dedicated connection outside the pool (migrations, LISTEN, the leader lock), with extra
    session settings when given."""
    conn = await asyncpg.connect(dsn, timeout=10, server_settings={
        "application_name": "truffles-gateway", **(server_settings or {})})
    await _init_connection(conn)
    return conn

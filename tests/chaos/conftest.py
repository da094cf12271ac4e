"""The reliability suites' fixtures: a database of their own on the test server (the gateway
under test runs as another process, or several, against it) and the fake peers."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest_asyncio

from storage.database import create_pool
from storage.migrate import apply_migrations
from tests.chaos.peers import Peers
from tests.conftest import _with_database


@pytest_asyncio.fixture
async def fresh_dsn(server_dsn: str) -> AsyncIterator[str]:
    """A new, migrated database for one test, dropped afterwards."""
    name = f"truffles_chaos_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = _with_database(server_dsn, name)
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    try:
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest_asyncio.fixture
async def fresh_db(fresh_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(fresh_dsn, max_size=4)
    yield pool
    await pool.close()


@pytest_asyncio.fixture
async def peers() -> AsyncIterator[Peers]:
    started = Peers()
    await started.start()
    yield started
    await started.close()

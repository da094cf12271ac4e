"""The reliability suites' fixtures: a database of their own on the test server (the gateway
under test runs as another process, or several, against it) and the fake peers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest_asyncio

from storage.database import create_pool, scratch_database
from tests.chaos.peers import Peers


@pytest_asyncio.fixture
async def fresh_dsn(server_dsn: str) -> AsyncIterator[str]:
    """A new, migrated database for one test, dropped afterwards."""
    async with scratch_database(server_dsn, "truffles_chaos") as dsn:
        yield dsn


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

"""Shared fixtures: a real PostgreSQL (TEST_DATABASE_URL, or an embedded server), a fresh database
per session, tables emptied between tests, and the app wired to it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from gateway.settings import Settings
from storage.database import create_pool, scratch_database
from storage.embedded import EmbeddedPostgres
from tests.fakes import FakeChatFlow, FakeOpenAI

ADMIN_TOKEN = "test-admin-token-0123456789"
_TABLES_KEPT = {"schema_migrations"}


@pytest.fixture(scope="session")
def server_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server: TEST_DATABASE_URL when set, otherwise an embedded one for the session."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
        return
    embedded = EmbeddedPostgres(Path(tmp_path_factory.mktemp("embedded-pg")))
    yield embedded.start()
    embedded.stop()


@pytest_asyncio.fixture(scope="session")
async def database_dsn(server_dsn: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test session, dropped at the end."""
    async with scratch_database(server_dsn, "truffles_test") as dsn:
        yield dsn


@pytest_asyncio.fixture(scope="session")
async def session_pool(database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_dsn, max_size=8)
    yield pool
    await pool.close()


@pytest_asyncio.fixture
async def db(session_pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    """The session pool, with every table emptied after the test."""
    yield session_pool
    tables = [
        r["tablename"]
        for r in await session_pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        if r["tablename"] not in _TABLES_KEPT
    ]
    if tables:
        await session_pool.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@pytest.fixture
def settings(database_dsn: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_dsn,
        data_dir=tmp_path / "data",
        admin_token=ADMIN_TOKEN,
        demo_seed=False,
        log_format="text",
    )


@pytest.fixture
async def chatflow(aiohttp_server) -> FakeChatFlow:
    """A fake ChatFlow send API on a local port (`chatflow.server.make_url("")`)."""
    fake = FakeChatFlow()
    fake.server = await aiohttp_server(fake.app)
    return fake


@pytest.fixture
async def openai_fake(aiohttp_server) -> FakeOpenAI:
    """A fake OpenAI-compatible chat completions server (`openai_fake.server.make_url("/v1")`)."""
    fake = FakeOpenAI()
    fake.server = await aiohttp_server(fake.app)
    return fake


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def aiohttp_client(db, aiohttp_client):
    """pytest-aiohttp's client factory, ordered after `db`: apps (and their workers) are closed
    before the tables are emptied."""
    return aiohttp_client

"""A scratch database for a benchmark: created on a PostgreSQL server, migrated, dropped after."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage.migrate import apply_migrations


@contextlib.asynccontextmanager
async def scratch_database(server_dsn: str, name: str) -> AsyncIterator[str]:
    """Create `name`_PID on the server, migrate it and yield its DSN; drop it on the way out
    (its connections closed by force)."""
    database = f"{name}_{os.getpid()}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
        try:
            dsn = urlunsplit(urlsplit(server_dsn)._replace(path=f"/{database}"))
            conn = await asyncpg.connect(dsn)
            try:
                await apply_migrations(conn)
            finally:
                await conn.close()
            yield dsn
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await admin.close()

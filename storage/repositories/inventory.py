"""What a backup's manifest says of the database, and the checks a restore makes first."""

from __future__ import annotations

import asyncpg

Executor = asyncpg.Connection | asyncpg.Pool


async def server_major(db: Executor) -> int:
    return int(await db.fetchval("SHOW server_version_num")) // 10000


async def server_version(db: Executor) -> str:
    return str(await db.fetchval("SHOW server_version")).split()[0]


async def applied_migrations(db: Executor) -> list[str]:
    if not await db.fetchval("SELECT to_regclass('public.schema_migrations') IS NOT NULL"):
        return []
    return [r["name"] for r in await db.fetch("SELECT name FROM schema_migrations ORDER BY version")]


async def table_counts(db: Executor) -> dict[str, int]:
    """Rows per table of the public schema (exact counts)."""
    tables = [r["tablename"] for r in await db.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
    return {table: await db.fetchval(f'SELECT count(*) FROM public."{table}"') for table in tables}


async def holds_data(db: Executor) -> list[str]:
    """The tables (other than the migration record) that have rows."""
    counts = await table_counts(db)
    return [table for table, rows in counts.items() if rows and table != "schema_migrations"]


async def gateways_connected(db: Executor) -> int:
    """Other sessions of a gateway on this database (a server or a command still running)."""
    return await db.fetchval(
        """SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
              AND application_name = 'truffles-gateway'""")

import asyncio
import secrets

import asyncpg

from storage.database import with_database
from storage.migrate import apply_migrations, discover


async def _fresh_database(server_dsn: str) -> tuple[str, str, asyncpg.Connection]:
    name = f"truffles_mig_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    return name, with_database(server_dsn, name), admin


async def test_apply_twice_is_a_no_op(server_dsn: str) -> None:
    name, dsn, admin = await _fresh_database(server_dsn)
    try:
        conn = await asyncpg.connect(dsn)
        first = await apply_migrations(conn)
        second = await apply_migrations(conn)
        assert first == [m.name for m in discover()]
        assert second == []
        versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in versions] == [m.version for m in discover()]
        await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_concurrent_runners_apply_each_migration_once(server_dsn: str) -> None:
    name, dsn, admin = await _fresh_database(server_dsn)
    try:
        conns = [await asyncpg.connect(dsn) for _ in range(4)]
        results = await asyncio.gather(*(apply_migrations(c) for c in conns))
        applied = [name for result in results for name in result]
        assert sorted(applied) == sorted(m.name for m in discover())
        assert await conns[0].fetchval("SELECT count(*) FROM schema_migrations") == len(discover())
        for conn in conns:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def test_migration_files_are_numbered_in_order() -> None:
    # Numbers are handed out in blocks to work in parallel, so there may be gaps between them.
    versions = [m.version for m in discover()]
    assert versions[0] == 1 and versions == sorted(set(versions))

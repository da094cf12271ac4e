"""The tenant cache never keeps a read that a change overtook: when a change is announced while
the clients are being read, the value read may predate it, so the next call reads again."""

from __future__ import annotations

import asyncio

import asyncpg

from storage.store import PgTenants
from storage.tenant_cache import CachedTenants
from tests.factories import make_client
from tests.fakes import wait_for


class HeldTenants(PgTenants):
    """Reads from PostgreSQL, but `all_clients` waits for `go` once it has read."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.reading = asyncio.Event()
        self.go = asyncio.Event()

    async def all_clients(self):  # type: ignore[no-untyped-def]
        clients = await super().all_clients()
        self.reading.set()
        await self.go.wait()
        return clients


async def test_a_change_announced_during_a_read_is_not_hidden_by_it(db, database_dsn) -> None:
    client = await make_client(db, slug="salon_a", telegram_bot_token="1:old")
    tenants = HeldTenants(db)
    cache = CachedTenants(tenants, database_dsn)
    await cache.start()
    try:
        await wait_for(lambda: cache._wakeup.connected)
        read = asyncio.create_task(cache.all_clients())
        await tenants.reading.wait()  # the old settings are read, not yet returned
        notified = cache._wakeup.notifications
        await db.execute("UPDATE client_settings SET telegram_bot_token = NULL "
                         "WHERE client_id = $1", client.id)
        await wait_for(lambda: cache._wakeup.notifications > notified)
        tenants.go.set()
        assert [c.settings.telegram_bot_token for c in await read] == ["1:old"]

        again = await cache.all_clients()
        assert [c.settings.telegram_bot_token for c in again] == [None]
    finally:
        await cache.stop()

"""Tenant configuration read through a per-process cache (a webhook, a turn and a delivery each
need the client's settings; reading them from PostgreSQL every time is most of a message's
round trips). The database announces every change on `truffles_tenants` (migration 0007) and
the cache is dropped at once, in every replica; while the notifications cannot be received
the cache is bypassed, so a change applies without a restart either way."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from core.models import Branch, Client
from storage.notify import Wakeup
from storage.store import PgTenants

log = logging.getLogger(__name__)
NOTIFY_CHANNEL = "truffles_tenants"


class CachedTenants:
    def __init__(self, tenants: PgTenants, dsn: str) -> None:
        self._tenants = tenants
        self._wakeup = Wakeup(dsn, (NOTIFY_CHANNEL,), on_notify=self.clear)
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._generation = 0  # counts clears, so a read that raced a change is not kept

    async def start(self) -> None:
        await self._wakeup.start()

    async def stop(self) -> None:
        await self._wakeup.stop()

    def clear(self) -> None:
        self._generation += 1
        self._cache.clear()

    async def _cached(self, key: tuple[Any, ...], read: Any) -> Any:
        if not self._wakeup.connected:  # a change could go unnoticed: read through
            self._cache.clear()
            return await read()
        if key in self._cache:
            return self._cache[key]
        generation = self._generation
        value = await read()
        # kept only if no change was announced while it was read: the read may predate it
        if self._wakeup.connected and generation == self._generation:
            self._cache[key] = value
        return value

    async def client(self, client_id: UUID) -> Client | None:
        return await self._cached(("client", client_id), lambda: self._tenants.client(client_id))

    async def client_by_slug(self, slug: str) -> Client | None:
        return await self._cached(("slug", slug), lambda: self._tenants.client_by_slug(slug))

    async def all_clients(self) -> list[Client]:
        return await self._cached(("all",), self._tenants.all_clients)

    async def branch(self, branch_id: UUID) -> Branch | None:
        return await self._cached(("branch", branch_id), lambda: self._tenants.branch(branch_id))

    async def resolve_branch(self, client: Client, instance_id: str | None) -> Branch | None:
        return await self._cached(("route", client.id, instance_id),
                                  lambda: self._tenants.resolve_branch(client, instance_id))

    async def system_prompt(self, client_id: UUID) -> str | None:
        return await self._cached(("prompt", client_id),
                                  lambda: self._tenants.system_prompt(client_id))

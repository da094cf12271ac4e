"""Telegram updates in: stored (de-duplicated on `update_id`, `UpdateLog`) before they are
handled, then fed to the desk's aiogram `Dispatcher` (`dispatcher.py`), whose routers split them
by direction. An update stored but not handled (the process died, the database blinked) is
handled by a later sweep; handlers are safe to run twice.

Handling takes a short lease on the stored update, renewed by a heartbeat while it runs, so the
sweep (of this replica or another) leaves it alone while it is being handled, and takes it over
within one lease when the process handling it died. A transient failure (the database or the
network), or a handling that outlasts HANDLE_TIMEOUT, leaves the update for the sweep to try
again once the lease has run out, at most `MAX_ATTEMPTS` handlings in all; any other failure
drops it with an error logged. So a poison update is set aside after a few tries and never holds
up the client's updates behind it.

A client's updates are handled one at a time (a lock per client), and those waiting in webhook
mode lowest `update_id` first: a manager's photo and the text after it reach the customer in the
order they were written, and two quick texts do not race each other."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from datetime import timedelta
from typing import Any
from uuid import UUID

from aiogram import Dispatcher
from aiogram.exceptions import TelegramNetworkError
from aiogram.types import Update
from pydantic import ValidationError

from channels.telegram.bots import BotRegistry
from channels.telegram.errors import describe
from core.models import Client
from core.ports import Tenants, UpdateLog

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
UPDATE_LEASE = timedelta(seconds=10)  # renewed every third of it while the update is handled
HANDLE_TIMEOUT = 30.0  # seconds: a handling still running then is cut (and tried again later)


class UpdateProcessor:
    def __init__(self, dispatcher: Dispatcher, log_: UpdateLog, bots: BotRegistry,
                 tenants: Tenants, *, transient: tuple[type[BaseException], ...] = (),
                 unavailable: tuple[type[BaseException], ...] = (),
                 lease: timedelta = UPDATE_LEASE, timeout: float = HANDLE_TIMEOUT) -> None:
        """`transient`: the storage's errors that mean "try again later" (beside Telegram's
        network errors); `unavailable`: those that mean the database is not there at all (an
        update that cannot be stored for one of them is asked for again, never skipped)."""
        self._dispatcher = dispatcher
        self.unavailable = unavailable
        self._retryable = (*transient, TelegramNetworkError, TimeoutError)
        self._timeout = timeout
        self._log = log_
        self._bots = bots
        self._tenants = tenants
        self._lease = lease
        self._locks: dict[UUID, asyncio.Lock] = {}  # one update at a time per client
        self._waiting: dict[UUID, list[tuple[int, int, Client, dict[str, Any]]]] = {}
        self._workers: dict[UUID, asyncio.Task[None]] = {}
        self._arrivals = itertools.count()

    async def accept(self, client: Client, payload: dict[str, Any]) -> bool:
        """Store the update; False for one seen before (it must not be handled again)."""
        return await self._log.remember(client.id, int(payload["update_id"]), payload)

    async def receive(self, client: Client, payload: dict[str, Any]) -> None:
        if await self.accept(client, payload):
            await self.handle(client, payload)

    def handle_soon(self, client: Client, payload: dict[str, Any]) -> None:
        """Handle an accepted update after the caller has answered (webhook mode): queued behind
        the client's updates waiting already, lowest update_id first."""
        waiting = self._waiting.setdefault(client.id, [])
        heapq.heappush(waiting, (int(payload["update_id"]), next(self._arrivals), client, payload))
        if client.id not in self._workers:
            self._workers[client.id] = asyncio.create_task(
                self._work_through(client.id), name=f"telegram-updates-{client.slug}")

    async def _work_through(self, client_id: UUID) -> None:
        waiting = self._waiting[client_id]
        try:
            while waiting:
                update_id, _, client, payload = heapq.heappop(waiting)
                try:
                    await self.handle(client, payload)
                except Exception:  # stored: the sweep handles it later
                    log.exception("telegram update left for the sweep",
                                  extra={"client": client.slug, "update_id": update_id})
        finally:
            del self._workers[client_id]
            if not waiting:
                del self._waiting[client_id]

    async def drain(self, timeout: float = 10.0) -> None:
        if self._workers:
            await asyncio.wait(list(self._workers.values()), timeout=timeout)

    async def handle(self, client: Client, payload: dict[str, Any], *,
                     attempt: int | None = None) -> None:
        """Handle a stored update; `attempt` when the caller has leased it already (the sweep)."""
        async with self._locks.setdefault(client.id, asyncio.Lock()):
            update_id = int(payload["update_id"])
            if attempt is None:
                attempt = await self._log.claim(client.id, update_id, self._lease)
                if attempt is None:  # handled already, or being handled elsewhere
                    return
            elif not await self._log.renew(client.id, update_id, attempt, self._lease):
                return  # claimed by a sweep, whose lease ran out while it waited: taken over
            heartbeat = asyncio.create_task(self._heartbeat(client.id, update_id, attempt))
            try:
                await self._handle(client, payload, attempt)
            finally:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)

    async def _heartbeat(self, client_id: UUID, update_id: int, attempt: int) -> None:
        """Keep the lease while the update is handled; a failed renewal is tried on the next
        beat (a lease that runs out meanwhile only lets a sweep handle it again)."""
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                await self._log.renew(client_id, update_id, attempt, self._lease)
            except Exception as exc:
                log.warning("telegram update lease not renewed",
                            extra={"update_id": update_id, "error": type(exc).__name__})

    async def _handle(self, client: Client, payload: dict[str, Any], attempt: int) -> None:
        update_id = int(payload["update_id"])
        about = {"client": client.slug, "update_id": update_id, "attempt": attempt}
        bot = self._bots.bot_for(client)
        try:
            if attempt > MAX_ATTEMPTS:  # the last handling died half-way
                log.error("telegram update given up: too many attempts", extra=about)
            elif bot is not None:
                update = Update.model_validate(payload, context={"bot": bot})
                async with asyncio.timeout(self._timeout):  # not wait_for: see core.waiting
                    await self._dispatcher.feed_update(bot, update, client_id=client.id)
        except self._retryable as exc:
            if attempt < MAX_ATTEMPTS:
                log.warning("telegram update left for a retry",
                            extra={**about, "error": describe(exc)})
                return
            log.error("telegram update given up: too many attempts",
                      extra={**about, "error": describe(exc)})
        except ValidationError:
            log.warning("telegram update not understood", extra=about)
        except Exception:  # one bad update must not stop the others; it is not retried
            log.exception("telegram update failed", extra=about)
        await self._log.mark_processed(client.id, update_id)

    async def sweep(self, *, stale_after: timedelta, keep_for: timedelta) -> int:
        """Handle updates whose handling never finished; forget old handled ones."""
        stale = await self._log.claim_stale(stale_after, self._lease)
        for claimed in stale:
            client = await self._tenants.client(claimed.client_id)
            if client is not None:
                await self.handle(client, claimed.payload, attempt=claimed.attempt)
        await self._log.prune(keep_for)
        return len(stale)

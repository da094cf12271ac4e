"""Keeps every client's bot receiving updates, in the one gateway process.

Polling (default): one long-polling loop per bot over `getUpdates`, restarted with backoff on
network and server errors. Webhook: `setWebhook` to PUBLIC_BASE_URL/telegram-webhook/{slug} with
the client's secret token. Either way, client settings are re-read every `rescan_seconds`, so
bots of clients added or changed at run time start (and removed ones stop) without a restart;
every `update_sweep_seconds` the same loop sweeps updates whose handling never finished (a lease
that ran out is taken over within seconds). In webhook mode a bot that is
removed, or replaced by another token, gets `deleteWebhook` so that it stops posting to us.

Why not aiogram's own `Dispatcher.start_polling`: it moves the offset past an update whether or
not handling it succeeded (an error is logged and the update is gone), and it handles updates as
they come. Here the offset moves past an update only once it is stored (`UpdateLog`), so a
database outage never loses one; handling then goes through the same `Dispatcher` as webhook
mode (`updates.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter, TelegramUnauthorizedError

from channels.telegram.bots import BotRegistry
from channels.telegram.dispatcher import ALLOWED_UPDATES
from channels.telegram.errors import describe
from channels.telegram.media import MediaLinks
from channels.telegram.settings import TelegramMode, TelegramSettings
from channels.telegram.updates import UpdateProcessor
from core import safe_json
from core.models import Client
from core.ports import DeskRecords, Tenants
from core.waiting import event_or_timeout

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0
STORE_ATTEMPTS = 3  # a polled update that fails this often (not an outage) is skipped
UNAUTHORIZED_PAUSE_SECONDS = 300.0
T = TypeVar("T")


def webhook_url(public_base_url: str, slug: str) -> str:
    return f"{public_base_url}/telegram-webhook/{slug}"


class BotRunner:
    def __init__(self, settings: TelegramSettings, *, tenants: Tenants, records: DeskRecords,
                 bots: BotRegistry, updates: UpdateProcessor, media: MediaLinks) -> None:
        self._mode = settings.mode
        self._public_base_url = settings.public_base_url
        self._tenants = tenants
        self._records = records
        self._bots = bots
        self._updates = updates
        self._media = media
        self._tuning = settings
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._polls: dict[UUID, tuple[Bot, asyncio.Task[None]]] = {}
        self._webhooks: dict[UUID, tuple[Bot, str, str]] = {}  # what setWebhook was given
        self._unhooking: dict[str, tuple[str, Bot]] = {}  # token → (slug, bot) to deleteWebhook

    @property
    def running_bots(self) -> int:
        return len(self._polls) if self._mode == TelegramMode.POLLING else len(self._webhooks)

    async def start(self) -> None:
        self._stopping.clear()
        self._supervisor = asyncio.create_task(self._supervise(), name="telegram-supervisor")

    async def stop(self, timeout: float = 10.0) -> None:
        """Let every loop finish what it is doing (no database work is cut in half), then end;
        only a long-poll in flight is abandoned."""
        self._stopping.set()
        tasks = [t for _, t in self._polls.values()]
        if self._supervisor is not None:
            tasks.append(self._supervisor)
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._polls.clear()

    async def _pause(self, seconds: float) -> bool:
        """Sleep, or wake early when stopping; True when the caller should go on."""
        await event_or_timeout(self._stopping, seconds)
        return not self._stopping.is_set()

    async def _unless_stopping(self, call: Awaitable[T]) -> T | None:
        """Await `call`, abandoning it (None) when the runner stops meanwhile."""
        task = asyncio.ensure_future(call)
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None

    async def _supervise(self) -> None:
        tick = min(self._tuning.update_sweep_seconds, self._tuning.rescan_seconds)
        rescanned = -math.inf
        while not self._stopping.is_set():
            try:
                if time.monotonic() - rescanned >= self._tuning.rescan_seconds:
                    rescanned = time.monotonic()
                    await self.rescan()
                await self._updates.sweep(
                    stale_after=timedelta(seconds=self._tuning.stale_update_seconds),
                    keep_for=timedelta(days=self._tuning.keep_updates_days))
                await asyncio.to_thread(self._media.prune)
            except Exception:
                log.exception("telegram supervisor tick failed")
            await self._pause(tick)

    async def rescan(self) -> None:
        """Bring the running bots in line with the clients' current settings."""
        with_bots = {c.id: c for c in await self._tenants.all_clients()
                     if c.settings.telegram_bot_token}
        if self._mode == TelegramMode.POLLING:
            self._sync_polls(with_bots)
        else:
            await self._sync_webhooks(with_bots)

    def _sync_polls(self, with_bots: dict[UUID, Client]) -> None:
        for client_id in list(self._polls):
            if client_id not in with_bots:
                self._polls.pop(client_id)[1].cancel()
        for client_id, client in with_bots.items():
            bot = self._bots.bot_for(client)
            running = self._polls.get(client_id)
            if bot is None or (running is not None and running[0] is bot):
                continue
            if running is not None:  # the token changed
                running[1].cancel()
            task = asyncio.create_task(self._poll(client_id, client.slug, bot),
                                       name=f"telegram-poll-{client.slug}")
            self._polls[client_id] = (bot, task)

    async def _poll(self, client_id: UUID, slug: str, bot: Bot) -> None:
        """One bot's long-polling loop. The offset moves past an update only once it is stored,
        so an update is never lost to a database outage."""
        offset: int | None = None
        failures = 0
        webhook_cleared = False
        while not self._stopping.is_set():
            try:
                if not webhook_cleared:  # getUpdates refuses to work while a webhook is set
                    await bot.delete_webhook(drop_pending_updates=False)
                    webhook_cleared = True
                updates = await self._unless_stopping(bot.get_updates(
                    offset=offset, timeout=self._tuning.poll_timeout,
                    allowed_updates=ALLOWED_UPDATES,
                    request_timeout=self._tuning.poll_timeout + 10))
                failures = 0
                for update in updates or ():
                    client = await self._tenants.client(client_id)
                    if client is None:
                        return
                    # cleaned: one update PostgreSQL cannot store (a NUL) must not stop the bot
                    await self._receive(client, safe_json.clean(
                        update.model_dump(mode="json", by_alias=True, exclude_none=True)))
                    offset = update.update_id + 1
            except asyncio.CancelledError:
                raise
            except TelegramUnauthorizedError:
                log.error("telegram bot token rejected; fix the client's telegram_bot_token",
                          extra={"client": slug})
                await self._pause(UNAUTHORIZED_PAUSE_SECONDS)
            except Exception as exc:
                failures += 1
                delay = min(2.0 ** failures, MAX_BACKOFF_SECONDS)
                if isinstance(exc, TelegramRetryAfter):
                    delay = max(delay, float(exc.retry_after))
                log.warning("telegram polling failed, backing off",
                            extra={"client": slug, "error": describe(exc), "retry_in": delay})
                await self._pause(delay)

    async def _receive(self, client: Client, payload: dict[str, Any]) -> None:
        """Store and handle a polled update. While the database is unavailable the error goes
        up (the offset stays, the loop backs off and asks again); an update that fails for
        another reason STORE_ATTEMPTS times in a row is skipped, with an error logged, so that
        it never holds up the updates behind it."""
        for attempt in range(1, STORE_ATTEMPTS + 1):
            try:
                await self._updates.receive(client, payload)
                return
            except self._updates.unavailable:
                raise
            except Exception as exc:
                if attempt == STORE_ATTEMPTS:
                    log.error("telegram update skipped: it cannot be stored",
                              extra={"client": client.slug, "update_id": payload["update_id"],
                                     "error": describe(exc)})

    async def _sync_webhooks(self, with_bots: dict[UUID, Client]) -> None:
        for client_id, (bot, _, _) in list(self._webhooks.items()):
            client = with_bots.get(client_id)
            if client is None or client.settings.telegram_bot_token != bot.token:
                del self._webhooks[client_id]
                self._unhooking[bot.token] = (client.slug if client else str(client_id), bot)
        await self._delete_old_webhooks(
            {_bot_id(c.settings.telegram_bot_token or "") for c in with_bots.values()})
        if not self._public_base_url:
            if with_bots:
                log.error("TELEGRAM_MODE=webhook needs PUBLIC_BASE_URL; no webhook is set")
            return
        for client_id, client in with_bots.items():
            bot = self._bots.bot_for(client)
            if bot is None:
                continue
            secret = client.settings.telegram_webhook_secret or \
                await self._records.ensure_webhook_secret(client_id)
            url = webhook_url(self._public_base_url, client.slug)
            wanted = (bot, url, secret)
            if self._webhooks.get(client_id) == wanted:
                continue
            try:
                await bot.set_webhook(url=url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
            except TelegramAPIError as exc:
                log.warning("setWebhook failed, will retry", extra={"client": client.slug,
                                                                     "error": describe(exc)})
                continue
            self._webhooks[client_id] = wanted
            log.info("telegram webhook set", extra={"client": client.slug})

    async def _delete_old_webhooks(self, bots_in_use: set[str]) -> None:
        """deleteWebhook for bots no client uses any more (tried again on the next rescan when
        Telegram cannot be reached). A bot still in use (its token was regenerated, or it moved
        to another client) is left alone: its setWebhook replaces the old one."""
        for token, (slug, bot) in list(self._unhooking.items()):
            if _bot_id(token) not in bots_in_use:
                try:
                    await bot.delete_webhook(drop_pending_updates=False)
                except TelegramUnauthorizedError:
                    pass  # the token was revoked: the bot no longer reaches us with it
                except TelegramAPIError as exc:
                    log.warning("deleteWebhook failed, will retry",
                                extra={"client": slug, "error": describe(exc)})
                    continue
                log.info("telegram webhook removed", extra={"client": slug})
            del self._unhooking[token]


def _bot_id(token: str) -> str:
    """The bot a token belongs to (a regenerated token keeps it)."""
    return token.split(":", 1)[0]

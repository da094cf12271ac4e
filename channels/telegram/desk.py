"""The Telegram desk as one part: bots, the update log and dispatcher, the outbox sender and the
runner (polling or webhook), built from its settings and the ports the composition root hands
in. `accept_webhook` is what the HTTP route calls; `start` / `stop` bracket the app's life."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from channels.telegram.bots import BotRegistry
from channels.telegram.context import DeskPorts
from channels.telegram.dispatcher import build_dispatcher
from channels.telegram.media import MediaLinks
from channels.telegram.ratelimit import ChatRateLimiter
from channels.telegram.runner import BotRunner
from channels.telegram.sender import TelegramSender
from channels.telegram.settings import TelegramSettings
from channels.telegram.updates import UpdateProcessor
from core import safe_json
from core.desk import Desk
from core.knowledge import KnowledgeBase
from core.ports import DeliveryProgress, DeskRecords, Tenants, UpdateLog
from core.relay import Relay


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    status: int  # 200 accepted (or a duplicate), 400, 401, 404
    error: str | None = None


class TelegramDesk:
    def __init__(self, settings: TelegramSettings, *, tenants: Tenants, records: DeskRecords,
                 update_log: UpdateLog, progress: DeliveryProgress, desk: Desk, relay: Relay,
                 knowledge: Callable[[], KnowledgeBase | None],
                 transient: tuple[type[BaseException], ...] = (),
                 unavailable: tuple[type[BaseException], ...] = ()) -> None:
        """`transient`: the storage's errors that mean "try again later"; `unavailable`: those
        that mean the database is not there."""
        self.settings = settings
        self._tenants = tenants
        self.bots = BotRegistry(settings.api_base)
        self.media = MediaLinks(settings.data_dir)
        ports = DeskPorts(tenants=tenants, records=records, desk=desk, relay=relay,
                          media=self.media, public_base_url=settings.public_base_url,
                          knowledge=knowledge)
        self.updates = UpdateProcessor(build_dispatcher(ports), update_log, self.bots, tenants,
                                       transient=transient, unavailable=unavailable)
        self.sender = TelegramSender(self.bots, records, progress, tenants,
                                     ChatRateLimiter(settings.rate_limits))
        self.runner = BotRunner(settings, tenants=tenants, records=records, bots=self.bots,
                                updates=self.updates, media=self.media)

    async def start(self) -> None:
        await self.runner.start()

    async def stop(self) -> None:
        await self.runner.stop()
        await self.updates.drain()
        await self.bots.close()

    async def readiness(self) -> dict[str, object]:
        return {"status": "ok", "mode": str(self.settings.mode), "bots": self.runner.running_bots}

    async def accept_webhook(self, slug: str, secret: str, body: bytes) -> WebhookOutcome:
        """Authenticate, then parse, store (de-duplicated on update_id) and schedule handling
        after the answer; a stored update is never lost (see `updates.py`)."""
        client = await self._tenants.client_by_slug(slug)
        if client is None:
            return WebhookOutcome(404, "unknown client")
        if not client.settings.telegram_bot_token:
            return WebhookOutcome(404, "this client has no Telegram desk")
        expected = client.settings.telegram_webhook_secret or ""
        if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
            return WebhookOutcome(401, "wrong Telegram secret token")
        try:
            payload: Any = safe_json.loads(body)
        except safe_json.InvalidJSON as exc:
            return WebhookOutcome(400, str(exc))
        if not isinstance(payload, dict) or not _is_update_id(payload.get("update_id")):
            return WebhookOutcome(400, "not a Telegram update (update_id)")
        if await self.updates.accept(client, payload):
            self.updates.handle_soon(client, payload)
        return WebhookOutcome(200)


def _is_update_id(value: Any) -> bool:
    """Telegram's update ids are positive and fit a signed 64-bit integer (our bigint)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63

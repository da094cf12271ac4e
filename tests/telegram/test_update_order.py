"""Webhook mode: a client's updates are handled one at a time, in update_id order, so a manager's
slow photo and the quick texts after it reach WhatsApp in the order they were written."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.settings import TelegramMode
from tests.fakes import wait_for
from tests.telegram.conftest import open_request
from tests.telegram.fakes import GROUP_A, FakeTelegram, topic_message

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class SlowFiles(FakeTelegram):
    """Files take a while to download, as a large photo would."""

    async def _file(self, request: web.Request) -> web.Response:
        await asyncio.sleep(0.5)
        return await super()._file(request)


async def test_slow_photo_then_text_reach_whatsapp_in_order(start_app, tg_settings, db, client_a,
                                                            aiohttp_server) -> None:
    slow = SlowFiles()
    slow.server = await aiohttp_server(slow.app)
    base = str(slow.server.make_url("")).rstrip("/")
    settings = tg_settings.model_copy(update={"telegram_mode": TelegramMode.WEBHOOK,
                                              "telegram_api_base": base})
    client = await start_app(settings)
    await wait_for(lambda: slow.of("setWebhook"))
    secret = await db.fetchval("SELECT telegram_webhook_secret FROM client_settings")
    await open_request(db, client_a)
    await wait_for(lambda: slow.of("pinChatMessage"))

    photo = {"update_id": 61, **topic_message(
        GROUP_A, 10, message_id=801, caption="Вот прайс",
        photo=[{"file_id": "ph", "file_unique_id": "p", "width": 900, "height": 900}])}
    texts = [{"update_id": 61 + i, **topic_message(GROUP_A, 10, text, message_id=801 + i)}
             for i, text in enumerate(("и ещё одно", "и последнее"), start=1)]
    # The later text arrives first (webhook requests may overtake each other): while the photo
    # is being handled, both wait, and go lowest update_id first.
    for update in (photo, *reversed(texts)):
        response = await client.post("/telegram-webhook/salon_a", json=update,
                                     headers={SECRET_HEADER: secret})
        assert response.status == 200

    async def relayed() -> list[dict]:
        return [dict(r) for r in await db.fetch(
            """SELECT kind, payload FROM outbox
                WHERE channel = 'whatsapp' AND idempotency_key LIKE 'tg-relay:%' ORDER BY id""")]

    rows = await wait_for(lambda: _three(relayed()))
    assert [r["kind"] for r in rows] == ["send_media", "send_text", "send_text"]
    assert [r["payload"].get("text") for r in rows[1:]] == ["и ещё одно", "и последнее"]
    assert await db.fetchval(
        "SELECT string_agg(content, ' | ' ORDER BY id) FROM messages WHERE role = 'manager'") == \
        "[image] Вот прайс | и ещё одно | и последнее"


async def _three(rows):
    found = await rows
    return found if len(found) == 3 else None

"""Webhook mode, the legacy `/callback` endpoint, and the signed media links of manager files."""

from __future__ import annotations

import asyncio

from channels.telegram.media import MediaLinks
from gateway.settings import TelegramMode
from tests.factories import make_conversation
from tests.fakes import wait_for
from tests.telegram.conftest import JID, open_request, running_desk
from tests.telegram.fakes import GROUP_A, TOKEN_A, TOKEN_B, callback, topic_message

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def test_webhook_mode_sets_webhooks_with_stored_secrets(start_app, tg_settings, db, tg,
                                                              client_a, client_b) -> None:
    client = await start_app(tg_settings.model_copy(update={"telegram_mode": TelegramMode.WEBHOOK}))
    await wait_for(lambda: len(tg.of("setWebhook")) == 2)
    by_token = {c.token: c.params for c in tg.of("setWebhook")}
    secret_a = await db.fetchval("SELECT telegram_webhook_secret FROM client_settings WHERE client_id = $1",
                                 client_a.id)
    assert len(secret_a) >= 32
    assert by_token[TOKEN_A]["url"] == "http://gateway.test/telegram-webhook/salon_a"
    assert by_token[TOKEN_A]["secret_token"] == secret_a
    assert by_token[TOKEN_B]["secret_token"] != secret_a
    assert tg.of("deleteWebhook") == []  # no polling in webhook mode
    await asyncio.sleep(0.3)  # later rescans do not set it again
    assert len(tg.of("setWebhook")) == 2
    assert client.app is not None


async def test_webhook_authenticates_and_processes_each_update_once(start_app, tg_settings, db, tg,
                                                                    chatflow, client_a) -> None:
    client = await start_app(tg_settings.model_copy(update={"telegram_mode": TelegramMode.WEBHOOK}))
    await wait_for(lambda: tg.of("setWebhook"))
    secret = await db.fetchval("SELECT telegram_webhook_secret FROM client_settings")
    await open_request(db, client_a)
    await wait_for(lambda: tg.of("pinChatMessage"))
    update = {"update_id": 42, **topic_message(GROUP_A, 10, "ответ через вебхук")}

    wrong = await client.post("/telegram-webhook/salon_a", json=update,
                              headers={SECRET_HEADER: "wrong"})
    assert wrong.status == 401
    missing = await client.post("/telegram-webhook/salon_a", json=update)
    assert missing.status == 401
    unknown = await client.post("/telegram-webhook/nobody", json=update, headers={SECRET_HEADER: secret})
    assert unknown.status == 404
    bad = await client.post("/telegram-webhook/salon_a", data="nope", headers={SECRET_HEADER: secret})
    assert bad.status == 400
    assert await db.fetchval("SELECT count(*) FROM telegram_updates") == 0

    for _ in range(2):
        ok = await client.post("/telegram-webhook/salon_a", json=update, headers={SECRET_HEADER: secret})
        assert ok.status == 200 and await ok.json() == {"ok": True}
    await wait_for(lambda: chatflow.delivered())
    await asyncio.sleep(0.2)
    assert len(chatflow.calls) == 1
    assert chatflow.calls[0]["msg"] == "ответ через вебхук" and chatflow.calls[0]["jid"] == JID


async def test_webhook_button_press(start_app, tg_settings, db, tg, client_a) -> None:
    client = await start_app(tg_settings.model_copy(update={"telegram_mode": TelegramMode.WEBHOOK}))
    await wait_for(lambda: tg.of("setWebhook"))
    secret = await db.fetchval("SELECT telegram_webhook_secret FROM client_settings")
    escalation = await open_request(db, client_a)
    await wait_for(lambda: tg.of("pinChatMessage"))
    update = {"update_id": 7, **callback(GROUP_A, f"skip:{escalation.handover.id}")}
    response = await client.post("/telegram-webhook/salon_a", json=update,
                                 headers={SECRET_HEADER: secret})
    assert response.status == 200
    await wait_for(lambda: tg.of("answerCallbackQuery"))
    assert tg.of("answerCallbackQuery")[0].params["text"] == "Отмечено: не можете взять"
    assert await db.fetchval("SELECT skipped_by FROM handovers") == [501]


async def test_callback_endpoint_transitions(start_app, tg_settings, db, admin_headers,
                                             client_a) -> None:
    client = await start_app(tg_settings)
    escalation = await open_request(db, client_a)
    conv = str(escalation.handover.conversation_id)
    await wait_for(lambda: db.fetchval("SELECT telegram_topic_id FROM conversations"))

    def call(action: str, **extra: object):
        return client.post("/callback", headers=admin_headers,
                           json={"conversation_id": conv, "action": action, "manager_id": 77,
                                 "manager_name": "Оператор", **extra})

    response = await call("take")
    assert response.status == 200
    assert await response.json() == {"success": True, "conversation_id": conv, "action": "take",
                                     "old_state": "pending", "new_state": "manager_active",
                                     "message": "Заявка ваша"}
    conflict = await call("return")
    assert conflict.status == 409
    body = await conflict.json()
    assert body["success"] is False and body["old_state"] == body["new_state"] == "manager_active"
    resolved = await call("resolve")
    assert (await resolved.json())["new_state"] == "bot_active"
    again = await call("resolve")  # no open handover any more: an invalid transition
    assert again.status == 409
    assert await again.json() == {
        "success": False, "error": "invalid_transition", "conversation_id": conv,
        "action": "resolve", "old_state": "bot_active", "new_state": "bot_active",
        "message": "the conversation has no open handover"}
    actors = await db.fetch("SELECT actor_id, actor_name FROM audit_log WHERE action <> 'escalate'")
    assert {(r["actor_id"], r["actor_name"]) for r in actors} == {("77", "Оператор")}


async def test_callback_endpoint_refuses_bad_requests(start_app, tg_settings, db, admin_headers,
                                                      client_a) -> None:
    client = await start_app(tg_settings)
    conv = await make_conversation(db, client_a.id)
    cases = [
        ({"conversation_id": "x", "action": "take", "manager_id": 1}, 400),
        ({"conversation_id": str(conv), "action": "fly", "manager_id": 1}, 400),
        ({"conversation_id": str(conv), "action": "take", "manager_id": "abc"}, 400),
        ({"conversation_id": str(conv), "action": "take", "manager_id": 1}, 409),  # no handover
        ({"conversation_id": "00000000-0000-0000-0000-000000000000", "action": "take",
          "manager_id": 1}, 404),
    ]
    for body, status in cases:
        response = await client.post("/callback", headers=admin_headers, json=body)
        assert response.status == status, body
        assert (await response.json())["success"] is False
    assert (await client.post("/callback", json=cases[-1][0])).status == 403


async def test_manager_photo_reaches_whatsapp_through_a_signed_link(start_app, tg_settings, db, tg,
                                                                    chatflow, client_a) -> None:
    client = await start_app(tg_settings)
    await open_request(db, client_a)
    await wait_for(lambda: tg.of("pinChatMessage"))
    tg.files["photos/ph-big.jpg"] = b"\xff\xd8jpeg-bytes"
    tg.push_update(TOKEN_A, topic_message(
        GROUP_A, 10, message_id=950, caption="Вот прайс",
        photo=[{"file_id": "ph-small", "file_unique_id": "s", "width": 90, "height": 90},
               {"file_id": "ph-big", "file_unique_id": "b", "width": 900, "height": 900}]))
    (sent,) = await wait_for(lambda: chatflow.delivered())
    assert sent["endpoint"] == "send-image" and sent["caption"] == "Вот прайс"
    assert sent["imageurl"].startswith("http://gateway.test/media/")
    token = sent["imageurl"].rsplit("/", 1)[1]
    served = await client.get(f"/media/{token}")
    assert served.status == 200 and await served.read() == b"\xff\xd8jpeg-bytes"
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await client.get(f"/media/{forged}")).status == 404
    media = (await running_desk(client)).media
    path = media.resolve(token)
    assert path is not None
    assert media.resolve(token, now=10**11) is None  # expired
    assert await db.fetchval("SELECT content FROM messages WHERE role = 'manager'") == "[image] Вот прайс"


async def test_a_unicode_media_token_is_not_found(start_app, tg_settings, tmp_path) -> None:
    client = await start_app(tg_settings)
    for token in ("%D1%82%D0%BE%D0%BA%D0%B5%D0%BD.%D0%BF%D0%BE%D0%B4%D0%BF%D0%B8%D1%81%D1%8C",
                  "abc.%C3%A9%C3%A9", "%F0%9F%98%80", "abc.%FF%FE"):
        response = await client.get(f"/media/{token}")
        assert response.status == 404, token
        assert (await response.json())["error"] == "not_found"
    links = MediaLinks(tmp_path)
    assert links.resolve("токен.подпись") is None and links.resolve("abc.\udcff") is None


async def test_undeliverable_reply_is_reported_to_the_manager(start_app, tg_settings, db, tg,
                                                              chatflow, client_a) -> None:
    await db.execute("UPDATE client_settings SET chatflow_instance_id = NULL, chatflow_token = NULL")
    await start_app(tg_settings)
    await open_request(db, client_a)
    await wait_for(lambda: tg.of("pinChatMessage"))
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "Ответ, который не дойдёт"))
    await wait_for(lambda: any(t.startswith("❌ Не доставлено") for t in tg.sent_texts()))
    assert "Ответ, который не дойдёт" in next(t for t in tg.sent_texts() if t.startswith("❌"))

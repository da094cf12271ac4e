"""What raises the alerts in a serving gateway: the watch over each client's Telegram desk (as
the senders see it) and inbox backlog, and the workers' hooks, wired by the composition root
(a request card Telegram refuses, a turn that keeps dying), all the way to the fake alert chat."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from channels.telegram.alerts import TelegramAlertNotifier
from core.alerts import Alerter
from core.delivery import Delivery, DeliveryOutcome
from core.inbound import MAX_TURN_ATTEMPTS
from core.outbound import RequestCard
from gateway.alerting import AlertHooks
from gateway.sender_health import FAILURES_BEFORE_DEGRADED, SenderHealth
from gateway.settings import Settings
from storage.repositories import inbox
from storage.repositories.alerts import PgAlertLog
from storage.store import PgStore, PgTenants
from tests.factories import accept_event, make_client, make_conversation
from tests.fakes import wait_for
from tests.ops.conftest import ALERT_CHAT, ALERT_TOKEN, alerts_sent
from tests.telegram.conftest import JID
from tests.telegram.fakes import GROUP_A, OWNER, TOKEN_A, FakeTelegram
from tests.whatsapp.conftest import post, text_payload


@pytest.fixture
async def hooks(db, tg: FakeTelegram) -> AsyncIterator[tuple[AlertHooks, SenderHealth]]:
    notifier = TelegramAlertNotifier(tg.base, ALERT_TOKEN, ALERT_CHAT)
    health = SenderHealth()
    alerter = Alerter(PgAlertLog(db), notifier, PgStore(db))
    yield AlertHooks(alerter, PgTenants(db), db, health, desk_unreachable_minutes=0,
                     backlog_threshold=2), health
    await notifier.aclose()


async def test_an_unreachable_desk_is_told_once(db, hooks, tg) -> None:
    watch, health = hooks
    client = await make_client(db, "salon")
    conversation = await make_conversation(db, client.id)
    await watch.check()
    assert alerts_sent(tg) == []  # nothing failed yet
    card = Delivery(1, client.id, conversation, "telegram", "escalation_card",
                    RequestCard(conversation, conversation), "card:x", 1)
    for _ in range(FAILURES_BEFORE_DEGRADED):
        health.record(card, DeliveryOutcome.failed("Telegram TelegramNetworkError: timeout"))
    await watch.check()
    await watch.check()
    (text,) = alerts_sent(tg)
    assert text.startswith("🔴 Client salon (salon): Telegram-деск недоступен")
    assert "TelegramNetworkError" in text
    # reachable again: nothing more
    health.record(card, DeliveryOutcome.sent())
    await watch.check()
    assert len(alerts_sent(tg)) == 1


async def test_a_growing_backlog_is_told_once(db, hooks, tg) -> None:
    watch, _ = hooks
    client = await make_client(db, "salon")
    for n in range(3):
        await accept_event(db, client_id=client.id, branch_id=None, channel="whatsapp",
                           remote_jid=f"7701000000{n}@s.whatsapp.net", name=None,
                           provider_message_id=f"m-{n}", payload={"inbound": {"text": "?"}},
                           debounce=3600)
    await watch.check()
    await watch.check()
    assert alerts_sent(tg) == ["🟠 Client salon (salon): очередь входящих растёт: 3 сообщений "
                               "ждут ответа."]


@pytest.fixture
def alert_settings(tg_settings: Settings) -> Settings:
    return tg_settings.model_copy(update={"alert_telegram_bot_token": SecretStr(ALERT_TOKEN),
                                          "alert_telegram_chat_id": ALERT_CHAT})


async def test_a_request_card_telegram_refuses_reaches_the_operator_and_the_owner(
        start_app, alert_settings, client_a, tg: FakeTelegram, db) -> None:
    tg.fail("createForumTopic", 400, "Bad Request: not enough rights to create a topic", times=99)
    app = await start_app(alert_settings)
    assert (await post(app, text_payload("Позовите менеджера", "M-1"), slug="salon_a")).status == 200
    await wait_for(lambda: alerts_sent(tg))
    (text,) = alerts_sent(tg)
    assert text.startswith("🔴 Client salon_a (salon_a): сообщение (telegram, escalation_card) "
                           "не доставлено")
    assert "not enough rights" in text
    # the owner hears of it through the client's bot, in a private chat
    await wait_for(lambda: [c for c in tg.of("sendMessage", token=TOKEN_A)
                            if int(c.params["chat_id"]) == OWNER["id"]])
    assert await db.fetchval("SELECT status FROM outbox WHERE kind = 'escalation_card'") == "failed"
    assert not [c for c in tg.of("sendMessage", token=TOKEN_A)
                if int(c.params["chat_id"]) == GROUP_A]


async def test_a_turn_that_keeps_dying_reaches_the_operator(start_app, alert_settings, client_a,
                                                            tg: FakeTelegram, db) -> None:
    await start_app(alert_settings)
    # a turn claimed MAX_TURN_ATTEMPTS times already (each claim died): the next claim gives up
    await accept_event(db, client_id=client_a.id, branch_id=None, channel="whatsapp",
                       remote_jid=JID, name="Айгерим", provider_message_id="m-1",
                       payload={"inbound": {"text": "сколько стоит?"}}, debounce=3600)
    await db.execute("UPDATE inbound_events SET attempts = $1", MAX_TURN_ATTEMPTS)
    await db.execute("UPDATE turn_queue SET due_at = now()")
    await db.execute("SELECT pg_notify($1, '')", inbox.NOTIFY_CHANNEL)
    await wait_for(lambda: alerts_sent(tg))
    (text,) = alerts_sent(tg)
    assert text.startswith("🔴 Client salon_a (salon_a): сообщение клиента не удалось обработать")
    assert f"claimed {MAX_TURN_ATTEMPTS + 1} times" in text

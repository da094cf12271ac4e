"""Customer ratings end to end through the fake Telegram and ChatFlow servers: a manager resolves,
the customer is asked once to rate the help 1–5 (clients that switched it on), the score lands
on the handover, in the topic and in the owner's figures; anything else is an ordinary turn."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from core.models import Conversation, State
from core.rating import awaiting, parse_rating
from core.texts import CUSTOMER_TEXTS
from gateway.keys import SCHEDULER_PORTS
from scheduler.reports import daily_report_pass
from storage.repositories import clients
from tests.fakes import wait_for
from tests.telegram.conftest import report_clock, report_time_seen
from tests.telegram.fakes import GROUP_A, OWNER, TOKEN_A, callback, topic_message
from tests.whatsapp.conftest import post, text_payload

RU, KK = CUSTOMER_TEXTS["ru"], CUSTOMER_TEXTS["kk"]


def texts_to_customer(chatflow) -> list[str]:
    return [c["msg"] for c in chatflow.delivered() if c["endpoint"] == "send-text"]


async def _resolved_by_a_manager(client, db, tg, chatflow, request: str) -> str:
    """A request taken, answered and resolved in the desk; the handover's id."""
    await post(client, text_payload(request, "R-1"), slug="salon_a")
    await wait_for(lambda: tg.of("pinChatMessage"))
    hid = await db.fetchval("SELECT id FROM handovers")
    card_id = await db.fetchval("SELECT telegram_message_id FROM handovers")
    tg.push_update(TOKEN_A, callback(GROUP_A, f"take:{hid}", message_id=card_id, thread_id=10))
    await wait_for(lambda: "Айдана К взял заявку" in tg.sent_texts())
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "Готово, записала вас на 15:00"))
    await wait_for(lambda: "Готово, записала вас на 15:00" in texts_to_customer(chatflow))
    tg.push_update(TOKEN_A, callback(GROUP_A, f"resolve:{hid}", message_id=card_id, query_id="r"))
    await wait_for(lambda: tg.of("unpinChatMessage"))
    return str(hid)


async def _say(client, chatflow, text: str, message_id: str) -> str:
    before = len(texts_to_customer(chatflow))
    await post(client, text_payload(text, message_id), slug="salon_a")
    await wait_for(lambda: len(texts_to_customer(chatflow)) > before)
    return texts_to_customer(chatflow)[-1]


async def test_a_rating_after_resolve_is_stored_and_shown_in_the_topic(
        start_app, tg_settings, db, tg, chatflow, client_a) -> None:
    await clients.update_settings(db, client_a.id, {"ask_rating": True})
    client = await start_app(tg_settings)
    hid = await _resolved_by_a_manager(client, db, tg, chatflow, "Позовите менеджера")
    await wait_for(lambda: RU["rating_request"] in texts_to_customer(chatflow))
    assert await db.fetchval("SELECT rating_asked_at IS NOT NULL FROM handovers") is True

    # thanks first: answered as thanks, and the question stays open
    assert await _say(client, chatflow, "Спасибо большое!", "R-2") == RU["thanks"]
    assert await _say(client, chatflow, "5", "R-3") == RU["rating_thanks"]
    await wait_for(lambda: "⭐ Оценка клиента: 5 из 5" in tg.sent_texts())
    row = await db.fetchrow("SELECT rating, rated_at FROM handovers WHERE id = $1::uuid", hid)
    assert row["rating"] == 5 and row["rated_at"] is not None
    assert await db.fetchval("SELECT rating_handover_id FROM conversations") is None
    audit = await db.fetchval("SELECT details FROM audit_log WHERE action = 'rate'")
    assert audit == {"rating": 5}
    assert RU["rating_request"] in texts_to_customer(chatflow)
    assert texts_to_customer(chatflow).count(RU["rating_request"]) == 1  # one question only


async def test_a_rating_counts_in_the_owners_report_and_the_stats_api(
        start_app, tg_settings, db, tg, chatflow, admin_headers, client_a) -> None:
    await clients.update_settings(db, client_a.id, {"ask_rating": True})
    client = await start_app(tg_settings)
    await _resolved_by_a_manager(client, db, tg, chatflow, "Позовите менеджера")
    await wait_for(lambda: RU["rating_request"] in texts_to_customer(chatflow))
    assert await _say(client, chatflow, "4", "R-2") == RU["rating_thanks"]

    at, clock = report_clock()
    await clients.update_settings(db, client_a.id, {"daily_report_time": at})
    ports = client.app[SCHEDULER_PORTS]
    await wait_for(lambda: report_time_seen(ports.tenants, client_a.id, at))
    assert await daily_report_pass(ports.tenants, ports.maintenance, clock) == 1
    (report,) = await wait_for(lambda: [c for c in tg.of("sendMessage")
                                        if c.params["chat_id"] == OWNER["id"]])
    assert "⭐ Оценка клиентов: 4,0 (ответов: 1)" in report.params["text"]

    stats = await (await client.get("/admin/clients/salon_a/stats", headers=admin_headers)).json()
    assert (stats["rated"], stats["rating_average"]) == (1, 4.0)
    # counted where it was given: a period before it has none
    before = await (await client.get("/admin/clients/salon_a/stats?from=2025-01-01&to=2025-01-02",
                                     headers=admin_headers)).json()
    assert (before["rated"], before["rating_average"]) == (0, None)


async def test_a_non_numeric_answer_just_continues_the_conversation(
        start_app, tg_settings, db, tg, chatflow, client_a) -> None:
    await clients.update_settings(db, client_a.id, {"ask_rating": True})
    client = await start_app(tg_settings)
    await _resolved_by_a_manager(client, db, tg, chatflow, "Менеджермен сөйлескім келеді")
    await wait_for(lambda: KK["rating_request"] in texts_to_customer(chatflow))  # in Kazakh

    reply = await _say(client, chatflow, "Ертең таңертең жұмыс істейсіз бе?", "R-2")
    assert reply == KK["no_answer"]  # an ordinary turn (no knowledge here)
    later = await _say(client, chatflow, "5", "R-3")  # the question is closed: not a score now
    assert later != KK["rating_thanks"]
    assert await db.fetchval("SELECT rating FROM handovers") is None
    assert not any("Оценка клиента" in text for text in tg.sent_texts())


async def test_no_question_unless_the_client_asks_for_ratings(start_app, tg_settings, db, tg, chatflow,
                                                              client_a) -> None:
    client = await start_app(tg_settings)
    await _resolved_by_a_manager(client, db, tg, chatflow, "Позовите менеджера")
    assert await _say(client, chatflow, "4", "R-2") != RU["rating_thanks"]
    assert RU["rating_request"] not in texts_to_customer(chatflow)
    assert await db.fetchval("SELECT rating_asked_at FROM handovers") is None


@pytest.mark.parametrize(("text", "score"), [
    ("5", 5), (" 4! ", 4), ("5/5", 5), ("3 из 5", 3), ("4 балла", 4), ("оценка 2", 2),
    ("5️⃣", 5), ("⭐⭐⭐⭐", 4), ("1 of 5", 1), ("5 звезд", 5),
    ("0", None), ("6", None), ("10", None), ("5 штук", None), ("в 5 часов", None),
    ("спасибо", None), ("", None),
])
def test_what_counts_as_a_score(text: str, score: int | None) -> None:
    assert parse_rating(text) == score


def test_the_question_is_open_for_a_day() -> None:
    now = datetime(2025, 1, 10, 12, tzinfo=UTC)
    conv = Conversation(uuid4(), uuid4(), uuid4(), None, "whatsapp", State.BOT_ACTIVE, None, 0,
                        10, GROUP_A, None, None, rating_handover_id=uuid4(),
                        rating_due_until=now + timedelta(hours=24))
    assert awaiting(conv, now + timedelta(hours=23))
    assert not awaiting(conv, now + timedelta(hours=24))
    assert not awaiting(dataclasses.replace(conv, rating_handover_id=None, rating_due_until=None), now)

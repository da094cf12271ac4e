"""The owner's view: the figures (one query module), the daily report through the fake Telegram
and ChatFlow servers with an injectable clock (sent once per client and day, however many
schedulers race), `/stats` in the desk group and `GET /admin/clients/{slug}/stats`."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from core.desk import Desk
from core.models import ClientSettings, HandoverStatus, TriggerType
from core.reports import (
    ReportFigures,
    UnresolvedRequest,
    daily_due,
    duration,
    last_week,
    parse_report_time,
    report_text,
    today,
    topic_link,
)
from gateway.keys import SCHEDULER_PORTS
from scheduler.jobs import SchedulerPorts, default_jobs
from scheduler.reports import daily_report_pass
from scheduler.settings import SchedulerSettings
from storage.leader import Leadership
from storage.repositories import clients
from storage.repositories.maintenance import PgMaintenance
from storage.store import PgStore, PgTenants
from tests.factories import ManualClock, make_conversation
from tests.fakes import wait_for
from tests.telegram.conftest import open_request, report_clock, report_time_seen
from tests.telegram.fakes import GROUP_A, OWNER, TOKEN_A, callback, topic_message
from tests.whatsapp.conftest import post, text_payload

ALMATY = ZoneInfo("Asia/Almaty")


def test_the_daily_report_covers_the_24_hours_before_its_time() -> None:
    settings = ClientSettings(daily_report_time="21:00", timezone="Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    assert daily_due(settings, datetime(2025, 3, 30, 20, 59, tzinfo=berlin)) is None
    due = daily_due(settings, datetime(2025, 3, 30, 23, 30, tzinfo=berlin))
    assert due is not None and due.day.isoformat() == "2025-03-30"
    # the clocks went forward that night: the day was 23 hours long, the period follows it
    assert due.period.start == datetime(2025, 3, 29, 21, 0, tzinfo=berlin)
    assert due.period.end == datetime(2025, 3, 30, 21, 0, tzinfo=berlin)
    assert due.period.end.astimezone(UTC) - due.period.start.astimezone(UTC) == timedelta(hours=23)
    assert due.period.label == "сутки до 21:00, 30.03"
    assert daily_due(ClientSettings(), datetime.now(UTC)) is None  # off by default


def test_periods_links_and_durations() -> None:
    now = datetime(2025, 6, 12, 9, 30, tzinfo=ALMATY)
    assert today("Asia/Almaty", now).start == datetime(2025, 6, 12, tzinfo=ALMATY)
    week = last_week("Asia/Almaty", now)
    assert (week.start, week.end, week.label) == (
        datetime(2025, 6, 6, tzinfo=ALMATY), now, "7 дней, 06.06–12.06")
    assert topic_link(-1001111111111, 10) == "https://t.me/c/1111111111/10"
    assert topic_link(-4000, 10) is None and topic_link(-1001111111111, None) is None
    assert [duration(s) for s in (20, 61, 3720)] == ["меньше минуты", "1 мин", "1 ч 2 мин"]
    for bad in ("9:30", "24:00", "21:60", "noon"):
        with pytest.raises(ValueError, match="HH:MM"):
            parse_report_time(bad)


def test_the_report_text() -> None:
    end = datetime(2025, 6, 12, 21, 0, tzinfo=ALMATY)

    def waiting(name: str, minutes: int) -> UnresolvedRequest:
        return UnresolvedRequest(uuid4(), uuid4(), HandoverStatus.PENDING, TriggerType.POLICY,
                                 "payment", name, "77011234567",
                                 end - timedelta(minutes=minutes), -1001111111111, 12)

    figures = ReportFigures(
        start=end - timedelta(days=1), end=end, customers=12, messages=40, bot_answers=30,
        bot_only_customers=9, escalations={"payment": 2, "human_request": 1, "manual": 1},
        taken=3, median_take_seconds=300, worst_take_seconds=2700,
        resolutions={"resolved_by_manager": 2, "returned_to_bot": 1}, rated=2, rating_average=4.5,
        unresolved=(waiting("<Айгерим>", 95),), unresolved_total=3)
    text = report_text("Салон & Спа", today("Asia/Almaty", end), figures)
    assert text.splitlines() == [
        "📊 <b>Салон &amp; Спа</b>: сегодня, 12.06",
        "👥 Клиентов: 12, сообщений от них: 40",
        "🤖 Ответов бота: 30; без менеджера обошлись 9 из 12",
        "🙋 Передано менеджерам: 4",
        "   • Оплата: 2",
        "   • Клиент просит менеджера: 1",
        "   • Менеджер взял диалог сам: 1",
        "⏱ Время до ответа менеджера: медиана 5 мин, худшее 45 мин (заявок: 3)",
        "✅ Закрыто: решено 2, возвращено боту 1",
        "⭐ Оценка клиентов: 4,5 (ответов: 2)",
        "⏳ <b>Не закрыты: 3</b>",
        '   • <a href="https://t.me/c/1111111111/12">&lt;Айгерим&gt; · +77011234567</a>: Оплата, '
        "никто не взял, ждёт 1 ч 35 мин",
        "   … и ещё 2",
    ]


async def test_the_daily_report_reaches_the_owner_once(start_app, tg_settings, db, tg, chatflow,
                                                       admin_headers, client_a) -> None:
    app = await start_app(tg_settings)
    # the bot answers one customer; another gets a manager; a third is still waiting
    await post(app, text_payload("Сколько стоит маникюр?", "W-1"), slug="salon_a")
    await post(app, text_payload("Позовите менеджера", "W-2", jid="77012222222@s.whatsapp.net",
                                 sender="Дана"), slug="salon_a")
    taken = await wait_for(lambda: db.fetchrow(
        "SELECT id, telegram_message_id FROM handovers WHERE telegram_message_id IS NOT NULL"))
    tg.push_update(TOKEN_A, callback(GROUP_A, f"take:{taken['id']}",
                                     message_id=taken["telegram_message_id"]))
    await wait_for(lambda: db.fetchval("SELECT taken_at IS NOT NULL FROM handovers"))
    await post(app, text_payload("Хочу вернуть предоплату", "W-3", jid="77013333333@s.whatsapp.net",
                                 sender="Ержан"), slug="salon_a")
    await wait_for(lambda: db.fetchval("SELECT count(*) = 3 FROM messages WHERE role = 'assistant'"))
    waiting = await wait_for(lambda: db.fetchrow(
        "SELECT c.telegram_topic_id FROM handovers h JOIN conversations c ON c.id = h.conversation_id"
        " WHERE h.trigger_value = 'payment' AND c.telegram_topic_id IS NOT NULL"))

    # the operator trying the bot in a console chat is no customer
    console = await make_conversation(db, client_a.id, "70001234567@s.whatsapp.net",
                                      channel="console")
    await db.execute("INSERT INTO messages (conversation_id, role, content) VALUES ($1, 'user', 'тест')",
                     console)

    at, clock = report_clock()
    await clients.update_settings(db, client_a.id, {"daily_report_time": at})
    ports = app.app[SCHEDULER_PORTS]
    await wait_for(lambda: report_time_seen(ports.tenants, client_a.id, at))  # caches dropped
    queued = await asyncio.gather(*(daily_report_pass(ports.tenants, ports.maintenance, clock)
                                    for _ in range(3)))
    assert sorted(queued) == [0, 0, 1]
    assert await daily_report_pass(ports.tenants, ports.maintenance, clock) == 0

    (report,) = await wait_for(lambda: [c for c in tg.of("sendMessage")
                                        if c.params["chat_id"] == OWNER["id"]])
    assert report.token == TOKEN_A and report.params["parse_mode"] == "HTML"
    text = report.params["text"]
    assert f"сутки до {at}" in text
    assert "👥 Клиентов: 3, сообщений от них: 3" in text
    assert "без менеджера обошлись 1 из 3" in text
    assert "🙋 Передано менеджерам: 2" in text and "   • Оплата: 1" in text
    assert "медиана меньше минуты" in text
    assert "⏳ <b>Не закрыты: 2</b>" in text
    assert f'<a href="https://t.me/c/1111111111/{waiting["telegram_topic_id"]}">Ержан' in text
    assert await db.fetchval("SELECT count(*) FROM daily_reports") == 1

    # /stats in the group counts the same, from the same queries
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "/stats", message_id=950))
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "/stats week", message_id=951))
    tg.push_update(TOKEN_A, topic_message(GROUP_A, 10, "/stats year", message_id=952))
    replies = await wait_for(lambda: (lambda r: r if len(r) == 3 else None)(
        [c.params for c in tg.of("sendMessage") if c.params.get("reply_parameters")]))
    by_text = sorted(r["text"] for r in replies)
    assert "Напишите /stats, /stats today или /stats week" in by_text
    assert any(t.startswith("📊 <b>Client salon_a</b>: сегодня") and
               "👥 Клиентов: 3, сообщений от них: 3" in t for t in by_text)
    assert any(": 7 дней, " in t for t in by_text)

    day = datetime.now(ALMATY).date().isoformat()
    response = await app.get(f"/admin/clients/salon_a/stats?from={day}&to={day}",
                             headers=admin_headers)
    stats = await response.json()
    assert response.status == 200, stats
    assert (stats["customers"], stats["messages"], stats["escalated"]) == (3, 3, 2)
    assert stats["escalations"] == {"human_request": 1, "payment": 1}
    assert stats["unresolved_total"] == 2 and stats["taken"] == 1
    assert stats["unresolved"][1]["customer_name"] == "Ержан"
    assert stats["unresolved"][1]["topic_url"].startswith("https://t.me/c/1111111111/")
    for query, reason in (("from=2025-02-01&to=2025-01-01", "before"),
                          ("from=yesterday", "not a date"), ("from=2020-01-01", "366 days")):
        refused = await app.get(f"/admin/clients/salon_a/stats?{query}", headers=admin_headers)
        assert refused.status == 400 and reason in (await refused.json())["message"]


async def test_an_owner_who_never_started_the_bot_gets_it_in_the_group(db, desk, tg, client_a
                                                                       ) -> None:
    at, clock = report_clock()
    await clients.update_settings(db, client_a.id, {"daily_report_time": at})
    await open_request(db, client_a, "Хочу вернуть предоплату", trigger_value="payment")
    await desk.run()  # the request's card
    assert await daily_report_pass(PgTenants(db), PgMaintenance(db), clock) == 1
    tg.fail("sendMessage", 403, "Forbidden: bot can't initiate conversation with a user")
    await desk.run()
    refused, in_group = [c.params for c in tg.of("sendMessage")
                         if "📊" in c.params["text"]]
    assert refused["chat_id"] == OWNER["id"]
    assert in_group["chat_id"] == GROUP_A and "message_thread_id" not in in_group
    assert in_group["text"].startswith(
        f'<a href="tg://user?id={OWNER["id"]}">владелец</a>, отчёт не дошёл в личные сообщения')
    assert "⏳ <b>Не закрыты: 1</b>" in in_group["text"]
    assert await db.fetchval("SELECT status FROM outbox WHERE kind = 'owner_report'") == "sent"


async def test_reports_are_off_by_default_and_validated(db, client_a) -> None:
    from gateway.tenant_admin import TenantError, typed_settings

    assert await daily_report_pass(PgTenants(db), PgMaintenance(db),
                                   ManualClock(datetime.now(UTC))) == 0
    assert typed_settings({"daily_report_time": "07:05"}) == {"daily_report_time": "07:05"}
    with pytest.raises(TenantError, match="HH:MM"):
        typed_settings({"daily_report_time": "7:05"})


async def test_the_scheduled_pass_reckons_with_the_schedulers_clock(db, database_dsn,
                                                                   client_a) -> None:
    """One clock for every pass (`SchedulerPorts.clock`): the database's unless one is injected."""
    await clients.update_settings(db, client_a.id, {"daily_report_time": "00:00"})  # due all day
    store = PgStore(db)
    on_db_time = SchedulerPorts(store, PgTenants(db), PgMaintenance(db), Desk(store))

    def report_job(ports: SchedulerPorts):
        jobs = default_jobs(ports, Leadership(database_dsn), SchedulerSettings())  # not started
        return next(job for job in jobs if job.name == "daily_reports")

    injected = ManualClock(datetime(2030, 1, 1, 0, 1, tzinfo=ALMATY))
    assert await report_job(dataclasses.replace(on_db_time, clock=injected)).run() == 1
    assert await report_job(on_db_time).run() == 1
    days = await db.fetch("SELECT report_date FROM daily_reports ORDER BY created_at")
    db_today = await db.fetchval("SELECT (now() AT TIME ZONE 'Asia/Almaty')::date")
    assert [d["report_date"] for d in days] == [date(2030, 1, 1), db_today]

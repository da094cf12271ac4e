"""Operator and owner alerts (issue 11 item 2): each kind is told once for a repeated condition,
by however many replicas; the hourly budget holds; an alert chat that cannot be reached is tried
again on the next occurrence; owners get a copy through their client's bot. The texts go to
the fake Telegram server's alert chat through the real notifier."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest

from channels.telegram.alerts import TelegramAlertNotifier
from core.alerts import Alert, Alerter, AlertKind, AlertPolicy
from core.models import Client
from core.ports import AlertDecision
from core.texts import ALERT
from gateway import metrics
from storage.repositories.alerts import PgAlertLog
from storage.store import PgStore
from tests.factories import make_client
from tests.ops.conftest import ALERT_CHAT, ALERT_TOKEN, alerts_sent
from tests.telegram.fakes import FakeTelegram

MakeAlerter = Callable[..., Alerter]


def count(kind: AlertKind, outcome: str) -> float:
    return metrics.REGISTRY.get_sample_value(
        "truffles_alerts_total", {"kind": kind.value, "outcome": outcome}) or 0.0


@pytest.fixture
async def make_alerter(db, tg: FakeTelegram) -> AsyncIterator[MakeAlerter]:
    """Alerters as the replicas have them: each its own notifier, one alert log (the database)."""
    notifiers: list[TelegramAlertNotifier] = []

    def make(**policy: object) -> Alerter:
        notifier = TelegramAlertNotifier(tg.base, ALERT_TOKEN, ALERT_CHAT)
        notifiers.append(notifier)
        return Alerter(PgAlertLog(db), notifier, PgStore(db), policy=AlertPolicy(**policy),
                       observer=metrics.record_alert)

    yield make
    for notifier in notifiers:
        await notifier.aclose()


@pytest.fixture
async def salon(db) -> Client:
    return await make_client(db, "salon")


def alert(kind: AlertKind, client: Client | None, **fields: object) -> Alert:
    return Alert(kind, client, f"{kind.value} of {client.slug if client else '-'}", **fields)


@pytest.mark.parametrize("kind", list(AlertKind))
async def test_each_kind_fires_once_for_a_repeated_condition(make_alerter: MakeAlerter, salon,
                                                             tg, db, kind: AlertKind) -> None:
    alerter = make_alerter()
    sent, deduplicated = count(kind, "sent"), count(kind, "deduplicated")
    decisions = [await alerter.raise_alert(alert(kind, salon, detail="boom")) for _ in range(3)]
    assert decisions == [AlertDecision.SENT, AlertDecision.DUPLICATE, AlertDecision.DUPLICATE]
    assert alerts_sent(tg) == [f"{kind.value} of salon\n" + ALERT["detail"].format(detail="boom")]
    row = await db.fetchrow("SELECT kind, client_id, count, suppressed FROM alerts")
    assert dict(row) == {"kind": kind.value, "client_id": salon.id, "count": 3, "suppressed": 2}
    assert (count(kind, "sent") - sent, count(kind, "deduplicated") - deduplicated) == (1, 2)


async def test_a_condition_that_lasts_is_told_again_after_the_repeat_window(
        make_alerter: MakeAlerter, salon, tg, db) -> None:
    alerter = make_alerter(repeat=timedelta(minutes=30))
    for _ in range(3):
        await alerter.raise_alert(alert(AlertKind.BACKLOG, salon))
    await db.execute("UPDATE alerts SET last_sent_at = last_sent_at - interval '31 minutes'")
    assert await alerter.raise_alert(alert(AlertKind.BACKLOG, salon)) is AlertDecision.SENT
    assert alerts_sent(tg) == ["backlog of salon",
                               "backlog of salon\n" + ALERT["repeated"].format(count=4)]


async def test_keys_are_per_client_and_channel(make_alerter: MakeAlerter, salon, db, tg) -> None:
    other = await make_client(db, "other")
    alerter = make_alerter()
    given_up = AlertKind.DELIVERY_GIVEN_UP
    decisions = [await alerter.raise_alert(alert(given_up, client, about=channel))
                 for client, channel in ((salon, "whatsapp"), (salon, "telegram"),
                                         (other, "whatsapp"), (salon, "whatsapp"))]
    assert decisions == [AlertDecision.SENT] * 3 + [AlertDecision.DUPLICATE]
    assert len(alerts_sent(tg)) == 3


async def test_replicas_seeing_the_same_condition_send_one_alert(make_alerter: MakeAlerter,
                                                                 salon, tg) -> None:
    replicas = [make_alerter() for _ in range(3)]
    decisions = await asyncio.gather(*(replica.raise_alert(alert(AlertKind.TURN_FAILED, salon))
                                       for replica in replicas for _ in range(4)))
    assert decisions.count(AlertDecision.SENT) == 1
    assert alerts_sent(tg) == ["turn_failed of salon"]


async def test_the_hourly_budget_holds(make_alerter: MakeAlerter, db, tg) -> None:
    clients = [await make_client(db, f"salon{n}") for n in range(3)]
    alerter = make_alerter(per_hour=2)
    limited = count(AlertKind.TURN_FAILED, "rate_limited")
    decisions = [await alerter.raise_alert(alert(AlertKind.TURN_FAILED, c)) for c in clients]
    assert decisions == [AlertDecision.SENT, AlertDecision.SENT, AlertDecision.RATE_LIMITED]
    assert alerts_sent(tg) == ["turn_failed of salon0", "turn_failed of salon1"]
    assert count(AlertKind.TURN_FAILED, "rate_limited") - limited == 1
    # still over the budget: the third one waits ...
    assert await alerter.raise_alert(alert(AlertKind.TURN_FAILED, clients[2])) \
        is AlertDecision.RATE_LIMITED
    # ... until the hour has passed; then its next occurrence goes out
    await db.execute("UPDATE alerts SET last_sent_at = last_sent_at - interval '61 minutes' "
                     "WHERE last_sent_at IS NOT NULL")
    assert await alerter.raise_alert(alert(AlertKind.TURN_FAILED, clients[2])) \
        is AlertDecision.SENT
    assert alerts_sent(tg)[-1].startswith("turn_failed of salon2")


async def test_an_alert_the_chat_refused_is_handed_over_once_when_it_answers(
        make_alerter: MakeAlerter, salon, tg: FakeTelegram, db) -> None:
    alerter = make_alerter()
    failed = count(AlertKind.DESK_UNREACHABLE, "failed")
    tg.fail("sendMessage", 502, "Bad Gateway", times=2)
    assert await alerter.raise_alert(alert(AlertKind.DESK_UNREACHABLE, salon)) \
        is AlertDecision.SENT
    assert count(AlertKind.DESK_UNREACHABLE, "failed") - failed == 1
    # seen again while the chat is still down: held, not raised anew (nor copied to owners again)
    assert await alerter.raise_alert(alert(AlertKind.DESK_UNREACHABLE, salon)) \
        is AlertDecision.DUPLICATE
    assert await alerter.flush() == 0  # the chat refuses again
    assert await alerter.flush() == 1
    assert await alerter.flush() == 0
    refused, refused_again, text = alerts_sent(tg)  # the fake records refused calls too
    assert "не доходило до этого чата" not in refused and refused_again == text
    assert text.startswith("desk_unreachable of salon") and "не доходило до этого чата" in text
    assert await db.fetchval("SELECT count(*) FROM alerts WHERE held_text IS NOT NULL") == 0


async def test_owners_get_a_copy_through_their_clients_bot(make_alerter: MakeAlerter, db) -> None:
    client = await make_client(db, "owned", telegram_bot_token="444:owner-bot",
                               telegram_chat_id=-1004, owner_telegram_ids=[900, 901])
    alerter = make_alerter()
    await alerter.raise_alert(Alert(AlertKind.TURN_FAILED, client, "turn <failed>"))
    rows = await db.fetch("SELECT kind, payload FROM outbox ORDER BY id")
    assert [(r["kind"], r["payload"]["chat_id"], r["payload"]["text"],
             r["payload"]["fallback_chat_id"]) for r in rows] == [
        ("owner_report", owner, "turn &lt;failed&gt;", -1004) for owner in (900, 901)]
    # an alert about an owner's own message does not go back to the owner
    await alerter.raise_alert(Alert(AlertKind.DELIVERY_GIVEN_UP, client, "x", to_owners=False))
    assert await db.fetchval("SELECT count(*) FROM outbox") == 2
    # nor when ALERT_OWNERS is off
    quiet = make_alerter(owners=False)
    await quiet.raise_alert(Alert(AlertKind.BACKLOG, client, "backlog"))
    assert await db.fetchval("SELECT count(*) FROM outbox") == 2


async def test_without_an_alert_chat_the_alert_is_logged_and_counted(db, salon, caplog) -> None:
    alerter = Alerter(PgAlertLog(db), None, PgStore(db), observer=metrics.record_alert)
    sent = count(AlertKind.BACKLOG, "sent")
    await alerter.raise_alert(alert(AlertKind.BACKLOG, salon, detail="300 waiting"))
    assert count(AlertKind.BACKLOG, "sent") - sent == 1
    (record,) = [r for r in caplog.records if r.getMessage() == "alert"]
    assert record.levelname == "ERROR" and record.key == f"backlog:{salon.id}"

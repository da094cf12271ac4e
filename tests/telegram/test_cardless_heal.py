"""Self-heal of requests without a card (issue 11): a pending request whose card Telegram refused
(or whose card row was lost) gets its card queued again after HEAL_CARDLESS_MINUTES, and the desk
then shows exactly one card, however often or concurrently the pass runs."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.desk import Desk
from core.heal import BreachKind
from scheduler.jobs import SchedulerPorts, card_heal_pass
from storage.repositories.maintenance import PgMaintenance
from storage.retry import TRANSIENT
from storage.store import PgStore, PgTenants
from tests.factories import make_client
from tests.telegram.conftest import open_request
from tests.telegram.fakes import GROUP_A, FakeTelegram

AFTER = timedelta(minutes=5)


@pytest.fixture
def ports(db) -> SchedulerPorts:
    store = PgStore(db)
    return SchedulerPorts(store, PgTenants(db), PgMaintenance(db), Desk(store),
                          transient=TRANSIENT)


async def minutes_pass(db, minutes: float) -> None:
    """The request and its card's last attempt are `minutes` older."""
    await db.execute("UPDATE handovers SET created_at = created_at - make_interval(mins => $1)",
                     minutes)
    await db.execute("UPDATE outbox SET next_attempt_at = next_attempt_at "
                     "- make_interval(mins => $1) WHERE kind = 'escalation_card'", minutes)


def cards(tg: FakeTelegram) -> list[dict]:
    return [c.params for c in tg.of("sendMessage")
            if c.params.get("reply_markup") and int(c.params["chat_id"]) == GROUP_A]


async def test_a_refused_card_is_queued_again_and_posted_once(db, desk, tg, client_a,
                                                              ports) -> None:
    tg.fail("createForumTopic", 400, "Bad Request: not enough rights to create a topic")
    escalation = await open_request(db, client_a)
    await desk.run()
    assert await db.fetchval("SELECT status FROM outbox WHERE kind = 'escalation_card'") == "failed"
    assert (await card_heal_pass(ports, AFTER)).cards_requeued == 0  # too early

    await minutes_pass(db, 6)
    report = await card_heal_pass(ports, AFTER)
    assert (report.cards_requeued, report.by_kind()) == (1, {BreachKind.CARDLESS_HANDOVER: 1})
    assert (await card_heal_pass(ports, AFTER)).cards_requeued == 0  # on its way already
    await desk.run()

    (card,) = cards(tg)
    assert f"take:{escalation.handover.id}" in str(card["reply_markup"])
    assert await db.fetchval("SELECT telegram_message_id FROM handovers") is not None
    await minutes_pass(db, 60)
    assert (await card_heal_pass(ports, AFTER)).cards_requeued == 0  # it has its card
    await desk.run()
    assert len(cards(tg)) == 1
    assert [r["status"] for r in await db.fetch(
        "SELECT status FROM outbox WHERE kind = 'escalation_card'")] == ["sent"]
    assert await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'heal:cardless_handover'") == 1


async def test_a_lost_card_row_is_queued_again_once_by_concurrent_passes(db, desk, tg, client_a,
                                                                         ports) -> None:
    await open_request(db, client_a)
    await db.execute("DELETE FROM outbox")
    await minutes_pass(db, 6)
    reports = await asyncio.gather(*(card_heal_pass(ports, AFTER) for _ in range(4)))
    assert sum(r.cards_requeued for r in reports) == 1
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE kind = 'escalation_card'") == 1
    await desk.run()
    assert len(cards(tg)) == 1


async def test_what_is_not_cardless_is_left_alone(db, desk, tg, client_a, ports) -> None:
    await open_request(db, client_a)  # its card is on its way (not delivered yet)
    no_desk = await make_client(db, "no_desk", telegram_chat_id=-1001)
    await open_request(db, no_desk, jid="77019999999@s.whatsapp.net")  # no bot to post it with
    await db.execute("UPDATE outbox SET status = 'failed' WHERE client_id = $1", no_desk.id)
    await minutes_pass(db, 60)
    assert (await card_heal_pass(ports, AFTER)).cards_requeued == 0
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE status = 'pending'") == 1

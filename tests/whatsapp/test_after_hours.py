"""Escalations outside working hours, through the real pipeline with an injected clock: the
request and its card are opened as always, and the customer is told when a manager will answer."""

from __future__ import annotations

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from core.answers import Answerer
from core.desk import Desk
from core.hours import canonical
from core.pipeline import TurnProcessor
from storage.repositories import clients
from storage.store import PgStore, PgTenants
from tests.factories import ManualClock, incoming, make_conversation

ALMATY = ZoneInfo("Asia/Almaty")
SALON = {"weekly": {"mon-fri": "10:00-20:00", "sat": "10:00-18:00"}}
_ids = itertools.count()


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """January 2025 in Almaty: the 10th is a Friday, the 11th Saturday, the 13th Monday."""
    return datetime(2025, 1, day, hour, minute, tzinfo=ALMATY)


@pytest.fixture
async def salon(db, demo):
    await clients.update_settings(db, demo.id, {"working_hours": canonical(SALON)})
    return demo


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(local(10, 21))


@pytest.fixture
def turn(db, salon, clock):
    store = PgStore(db)
    processor = TurnProcessor(store, PgTenants(db), Answerer(None, None), None,
                              Desk(store, PgTenants(db)), clock=clock)

    async def run(text: str, conversation=None):
        conv = conversation or await make_conversation(
            db, salon.id, f"7702{next(_ids):07d}@s.whatsapp.net")
        return conv, await processor.process(conv, [incoming(text, provider_message_id=f"h{next(_ids)}")])
    return run


async def test_friday_evening_escalation_says_tomorrow_from_ten(turn, db, clock) -> None:
    conv, outcome = await turn("Позовите менеджера, пожалуйста")
    assert outcome.act == "escalate" and outcome.state == "pending"
    assert outcome.reply == "Сейчас мы не работаем. Передал ваш вопрос менеджеру, он ответит " \
                            "завтра с 10:00."
    # the request and its card exist all the same
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE kind = 'escalation_card'") == 1
    # 20 minutes later, still waiting: the notice says when too
    clock.at = local(10, 21, 20)
    _, later = await turn("Алло?", conv)
    assert later.act == "forward" and later.reply == "Менеджер ответит завтра с 10:00, " \
                                                     "пожалуйста, подождите."


async def test_saturday_evening_escalation_says_monday(turn, clock) -> None:
    clock.at = local(11, 18, 30)
    _, outcome = await turn("позовите менеджера")
    assert outcome.reply.endswith("он ответит в понедельник с 10:00.")


async def test_a_holiday_moves_the_answer_to_the_next_working_day(turn, db, salon) -> None:
    await clients.update_settings(db, salon.id, {"working_hours": canonical(
        {**SALON, "exceptions": {"2025-01-11": "closed"}})})
    _, outcome = await turn("позовите менеджера")
    assert outcome.reply.endswith("он ответит в понедельник с 10:00.")


async def test_in_working_hours_nothing_changes(turn, clock) -> None:
    clock.at = local(10, 15)
    _, outcome = await turn("позовите менеджера")
    assert outcome.reply == "Передал ваш вопрос менеджеру, он скоро ответит."


@pytest.mark.parametrize(("text", "reply"), [
    ("Менеджермен сөйлескім келеді",
     "Қазір жұмыс уақыты емес. Сұрағыңызды менеджерге жібердім, ол ертең сағат 10:00-ден бастап "
     "жауап береді."),
    ("I want to talk to a manager",
     "We're closed right now. I've passed your question to a manager, who will reply tomorrow "
     "from 10:00."),
])
async def test_the_when_text_is_in_the_customers_language(turn, text, reply) -> None:
    _, outcome = await turn(text)
    assert outcome.reply == reply

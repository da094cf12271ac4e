"""The pure reminder decision, with an injected clock."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from core.models import ClientSettings, Handover, HandoverStatus, TriggerType
from core.reminders import Due, auto_close_note, due_step, reminder_text

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
SETTINGS = ClientSettings(owner_telegram_ids=(111, 222))


def handover(**fields: object) -> Handover:
    base = Handover(
        id=uuid4(), conversation_id=uuid4(), client_id=uuid4(), status=HandoverStatus.PENDING,
        trigger_type=TriggerType.INTENT, trigger_value="human_request", user_message="?",
        assigned_to=None, assigned_to_name=None, skipped_by=(), telegram_message_id=None,
        manager_response=None, resolution=None, created_at=T0, taken_at=None, resolved_at=None,
        reminder_1_sent_at=None, reminder_2_sent_at=None)
    return dataclasses.replace(base, **fields)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_first_reminder_at_timeout_1_and_second_only_after_the_first() -> None:
    h = handover()
    assert due_step(h, SETTINGS, at(29.9)) is None
    assert due_step(h, SETTINGS, at(30)) is Due.REMINDER_1
    assert due_step(h, SETTINGS, at(90)) is Due.REMINDER_1  # late: still the first one first
    sent_1 = handover(reminder_1_sent_at=at(30))
    assert due_step(sent_1, SETTINGS, at(59)) is None
    assert due_step(sent_1, SETTINGS, at(60)) is Due.REMINDER_2
    assert due_step(handover(reminder_1_sent_at=at(30), reminder_2_sent_at=at(60)), SETTINGS, at(600)) is None


def test_nothing_for_a_taken_handover_or_with_reminders_off() -> None:
    assert due_step(handover(status=HandoverStatus.ACTIVE), SETTINGS, at(100)) is None
    off = dataclasses.replace(SETTINGS, enable_reminders=False)
    assert due_step(handover(), off, at(100)) is None


def test_custom_timeouts_apply() -> None:
    quick = dataclasses.replace(SETTINGS, reminder_timeout_1=5, reminder_timeout_2=10)
    assert due_step(handover(), quick, at(5)) is Due.REMINDER_1
    assert due_step(handover(reminder_1_sent_at=at(5)), quick, at(10)) is Due.REMINDER_2


def test_auto_close_wins_once_due_even_with_reminders_off() -> None:
    closing = dataclasses.replace(SETTINGS, auto_close_timeout=90, enable_reminders=False)
    assert due_step(handover(), closing, at(89)) is None
    assert due_step(handover(), closing, at(90)) is Due.AUTO_CLOSE
    assert auto_close_note(closing) == "⏱ Заявка закрыта автоматически: никто не взял за 90 мин"


def test_texts_and_owner_mentions() -> None:
    h = handover()
    assert reminder_text(Due.REMINDER_1, h, SETTINGS, at(30.5)) == "⏰ Заявка ждёт 30 мин"
    urgent = reminder_text(Due.REMINDER_2, h, SETTINGS, at(61))
    assert urgent.startswith("🔴 Срочно: заявка ждёт 61 мин\n")
    assert '<a href="tg://user?id=111">владелец</a>, <a href="tg://user?id=222">владелец</a>' in urgent
    no_escalation = dataclasses.replace(SETTINGS, enable_owner_escalation=False)
    assert reminder_text(Due.REMINDER_2, h, no_escalation, at(61)) == "🔴 Срочно: заявка ждёт 61 мин"
    no_owners = dataclasses.replace(SETTINGS, owner_telegram_ids=())
    assert "tg://" not in reminder_text(Due.REMINDER_2, h, no_owners, at(61))

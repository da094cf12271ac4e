"""Working hours, pure, with an injected clock: the schedule document, open / next opening /
working minutes, the "when" text, and reminders that count working minutes only."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from core.hours import HoursError, canonical, parse_hours, schedule_for
from core.hours_text import opening_text, when_text
from core.models import Branch, ClientSettings, Handover, HandoverStatus, TriggerType
from core.reminders import Due, due_step, reminder_text

ALMATY = ZoneInfo("Asia/Almaty")
SALON = {"weekly": {"mon-fri": "10:00-20:00", "sat": "10:00-18:00", "sun": "closed"}}
HOLIDAY = {**SALON, "exceptions": {"2025-01-11": "closed"}}  # that Saturday
HOURS = parse_hours(SALON, "Asia/Almaty")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """January 2025 in Almaty: the 10th is a Friday, the 11th Saturday, the 13th Monday."""
    return datetime(2025, 1, day, hour, minute, tzinfo=ALMATY)


FRIDAY_EVENING = local(10, 21)


def test_the_document_is_validated_and_written_canonically() -> None:
    assert canonical({"weekly": {"mon-fri": "9:00-13:00, 14:00-18:00", "sat,sun": "10:00 - 24:00"},
                      "exceptions": {"2025-03-21": "closed"}}) == {
        "weekly": {**dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "09:00-13:00, 14:00-18:00"),
                   "sat": "10:00-24:00", "sun": "10:00-24:00"},
        "exceptions": {"2025-03-21": "closed"}}


@pytest.mark.parametrize(("document", "error"), [
    ({"weekly": {"mon": "20:00-10:00"}}, "ends before it starts"),
    ({"weekly": {"mon": "10:00-25:00"}}, "not a time of day"),
    ({"weekly": {"mon": 600}}, "expected \"HH:MM-HH:MM\""),
    ({"weekly": {"monday": "10:00-20:00"}}, "unknown day"),
    ({"weekly": {"fri-mon": "10:00-20:00"}}, "runs backwards"),
    ({"weekly": {"mon-fri": "10:00-20:00", "fri": "10:00-12:00"}}, "fri is given twice"),
    ({"weekly": {"mon": "10:00-14:00, 13:00-18:00"}}, "overlap"),
    ({"weekly": {"sun": "closed"}}, "never opens"),
    ({"weekly": {"mon": "10:00-20:00"}, "exceptions": {"21.03.2025": "closed"}}, "not a date"),
    ({"weekly": {"mon": "10:00-20:00"}, "holidays": {}}, "unknown key"),
    ("10:00-20:00", "must be an object"),
])
def test_bad_documents_are_refused_with_the_reason(document: object, error: str) -> None:
    with pytest.raises(HoursError, match=error):
        canonical(document)


def test_open_next_opening_and_working_minutes() -> None:
    assert HOURS.is_open(local(10, 10)) and HOURS.is_open(local(10, 19, 59))
    assert not HOURS.is_open(local(10, 20)) and not HOURS.is_open(local(12, 12))  # Sunday
    assert HOURS.next_opening(local(10, 15)) == local(10, 15)
    assert HOURS.next_opening(FRIDAY_EVENING) == local(11, 10)
    assert HOURS.next_opening(local(11, 18, 30)) == local(13, 10)  # Saturday evening → Monday
    assert HOURS.working_minutes(FRIDAY_EVENING, local(11, 10, 30)) == 30
    assert HOURS.working_minutes(local(10, 19, 50), local(11, 10, 20)) == 30
    holiday = parse_hours(HOLIDAY, "Asia/Almaty")
    assert holiday.next_opening(FRIDAY_EVENING) == local(13, 10)
    assert holiday.working_minutes(FRIDAY_EVENING, local(13, 10, 30)) == 30


def test_the_clients_timezone_is_what_the_hours_mean() -> None:
    moscow = parse_hours(SALON, "Europe/Moscow")  # UTC+3, two hours behind Almaty
    assert moscow.is_open(FRIDAY_EVENING)  # 19:00 in Moscow
    assert moscow.next_opening(local(10, 22, 30)) == local(11, 12)


@pytest.mark.parametrize(("now", "language", "text"), [
    (FRIDAY_EVENING, "ru", "завтра с 10:00"),
    (FRIDAY_EVENING, "kk", "ертең сағат 10:00-ден бастап"),
    (FRIDAY_EVENING, "en", "tomorrow from 10:00"),
    (local(10, 7), "ru", "сегодня с 10:00"),
    (local(11, 19), "ru", "в понедельник с 10:00"),
    (local(11, 19), "kk", "дүйсенбі күні сағат 10:00-ден бастап"),
    (local(11, 19), "en", "on Monday from 10:00"),
])
def test_when_a_manager_will_answer(now: datetime, language: str, text: str) -> None:
    assert when_text(HOURS, now, language) == text


def test_when_text_far_ahead_and_kazakh_endings() -> None:
    assert opening_text(local(25, 10), local(10, 21), ALMATY, "ru") == "25 января с 10:00"
    assert opening_text(local(25, 10), local(10, 21), ALMATY, "kk") == \
        "25 қаңтар күні сағат 10:00-ден бастап"
    assert opening_text(local(11, 9, 30), local(10, 21), ALMATY, "kk").endswith("09:30-дан бастап")
    assert opening_text(local(11, 9, 15), local(10, 21), ALMATY, "kk").endswith("09:15-тен бастап")
    assert opening_text(local(11, 9, 10), local(10, 21), ALMATY, "kk").endswith("09:10-нан бастап")
    assert opening_text(local(11, 9, 40), local(10, 21), ALMATY, "kk").endswith("09:40-тан бастап")


def test_a_branch_with_hours_of_its_own_overrides_the_client() -> None:
    settings = ClientSettings(working_hours=canonical(SALON))
    branch = Branch(uuid4(), uuid4(), "north", "Север", None, None, None, None, True,
                    working_hours=canonical({"weekly": {"mon-sun": "09:00-21:00"}}))
    assert schedule_for(settings, branch).is_open(FRIDAY_EVENING - timedelta(minutes=30))
    assert not schedule_for(settings, None).is_open(FRIDAY_EVENING - timedelta(minutes=30))
    no_own = dataclasses.replace(branch, working_hours=None)
    assert schedule_for(settings, no_own) == schedule_for(settings)
    assert schedule_for(ClientSettings()) is None  # no hours: always open
    # hours that no longer parse (edited by hand) count as always open
    assert schedule_for(ClientSettings(working_hours={"weekly": {"mon": "x"}})) is None


SETTINGS = ClientSettings(owner_telegram_ids=(111,), reminder_timeout_1=30, reminder_timeout_2=60)


def _handover(created_at: datetime, **fields: object) -> Handover:
    return Handover(
        id=uuid4(), conversation_id=uuid4(), client_id=uuid4(), status=HandoverStatus.PENDING,
        trigger_type=TriggerType.INTENT, trigger_value="human_request", user_message="?",
        assigned_to=None, assigned_to_name=None, skipped_by=(), telegram_message_id=None,
        manager_response=None, resolution=None, created_at=created_at, taken_at=None,
        resolved_at=None, reminder_1_sent_at=None, reminder_2_sent_at=None, **fields)


def test_friday_evening_request_is_first_reminded_on_saturday_at_ten_plus_n() -> None:
    h = _handover(FRIDAY_EVENING)
    for night in (local(10, 21, 30), local(10, 23, 59), local(11, 3), local(11, 10, 29)):
        assert due_step(h, SETTINGS, night, HOURS) is None, night
    assert due_step(h, SETTINGS, local(11, 10, 30), HOURS) is Due.REMINDER_1
    # without hours it would have pinged at night
    assert due_step(h, SETTINGS, local(10, 21, 30)) is Due.REMINDER_1
    reminded = dataclasses.replace(h, reminder_1_sent_at=local(11, 10, 30))
    assert due_step(reminded, SETTINGS, local(11, 10, 59), HOURS) is None
    assert due_step(reminded, SETTINGS, local(11, 11), HOURS) is Due.REMINDER_2
    text = reminder_text(Due.REMINDER_1, h, SETTINGS, local(11, 10, 30), HOURS)
    assert text == "⏰ Заявка ждёт 30 мин рабочего времени (пришла пт 10.01 21:00)"


def test_a_holiday_shifts_the_first_reminder_to_the_next_working_day() -> None:
    hours = parse_hours(HOLIDAY, "Asia/Almaty")
    h = _handover(FRIDAY_EVENING)
    assert due_step(h, SETTINGS, local(11, 10, 30), hours) is None
    assert due_step(h, SETTINGS, local(13, 10, 29), hours) is None
    assert due_step(h, SETTINGS, local(13, 10, 30), hours) is Due.REMINDER_1


def test_a_request_in_working_hours_carries_its_minutes_over_the_night() -> None:
    h = _handover(local(10, 19, 50))
    assert due_step(h, SETTINGS, local(10, 20, 5), HOURS) is None
    assert due_step(h, SETTINGS, local(11, 10, 20), HOURS) is Due.REMINDER_1
    # all of it in working time: the plain text
    assert reminder_text(Due.REMINDER_1, _handover(local(10, 12)), SETTINGS, local(10, 12, 30),
                         HOURS) == "⏰ Заявка ждёт 30 мин"


def test_auto_close_counts_working_minutes_too() -> None:
    settings = dataclasses.replace(SETTINGS, auto_close_timeout=90)
    h = _handover(FRIDAY_EVENING)
    assert due_step(h, settings, local(11, 9, 59), HOURS) is None  # 13 hours, none of them working
    assert due_step(h, settings, local(11, 11, 30), HOURS) is Due.AUTO_CLOSE

"""When a manager will answer, in words ("завтра с 10:00", "ертең сағат 10:00-ден бастап",
"tomorrow from 10:00"), relative to the customer's now, in the client's timezone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from core.hours import WorkingHours
from core.language import ENGLISH, KAZAKH, RUSSIAN

_RU_WEEKDAYS = ("в понедельник", "во вторник", "в среду", "в четверг", "в пятницу", "в субботу",
                "в воскресенье")
_RU_MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
              "сентября", "октября", "ноября", "декабря")
_RU_SHORT_WEEKDAYS = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")
_KK_WEEKDAYS = ("дүйсенбі", "сейсенбі", "сәрсенбі", "бейсенбі", "жұма", "сенбі", "жексенбі")
_KK_MONTHS = ("қаңтар", "ақпан", "наурыз", "сәуір", "мамыр", "маусым", "шілде", "тамыз",
              "қыркүйек", "қазан", "қараша", "желтоқсан")
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")
# The ablative ending ("from") after a time follows its last spoken word: 10:00 "нөл" → -ден,
# 10:30 "отыз" → -дан, 10:15 "бес" → -тен, 10:10 "он" → -нан.
_KK_FROM_UNITS = {1: "ден", 2: "ден", 3: "тен", 4: "тен", 5: "тен", 6: "дан", 7: "ден", 8: "ден",
                  9: "дан"}
_KK_FROM_TENS = {1: "нан", 2: "дан", 3: "дан", 4: "тан", 5: "ден"}
UNKNOWN_OPENING = {
    RUSSIAN: "в ближайшее рабочее время",
    KAZAKH: "жақын жұмыс уақытында",
    ENGLISH: "during our next working hours",
}


def _kazakh_from(minute: int) -> str:
    if minute == 0:
        return "ден"
    if minute % 10:
        return _KK_FROM_UNITS[minute % 10]
    return _KK_FROM_TENS[minute // 10]


def opening_text(opening: datetime, now: datetime, timezone: ZoneInfo, language: str) -> str:
    """`opening` said relative to `now`: today, tomorrow, a weekday within the week, else a date."""
    local, today = opening.astimezone(timezone), now.astimezone(timezone).date()
    days = (local.date() - today).days
    clock = f"{local:%H:%M}"
    if language == KAZAKH:
        day = ("бүгін" if days == 0 else "ертең" if days == 1
               else f"{_KK_WEEKDAYS[local.weekday()]} күні" if days < 7
               else f"{local.day} {_KK_MONTHS[local.month - 1]} күні")
        return f"{day} сағат {clock}-{_kazakh_from(local.minute)} бастап"
    if language == ENGLISH:
        day = ("today" if days == 0 else "tomorrow" if days == 1
               else f"on {_EN_WEEKDAYS[local.weekday()]}" if days < 7
               else f"on {local.day} {_EN_MONTHS[local.month - 1]}")
        return f"{day} from {clock}"
    day = ("сегодня" if days == 0 else "завтра" if days == 1
           else _RU_WEEKDAYS[local.weekday()] if days < 7
           else f"{local.day} {_RU_MONTHS[local.month - 1]}")
    return f"{day} с {clock}"


def when_text(hours: WorkingHours, now: datetime, language: str) -> str:
    """When the desk opens next, in words, for a customer writing at `now`."""
    opening = hours.next_opening(now)
    if opening is None:
        return UNKNOWN_OPENING.get(language, UNKNOWN_OPENING[RUSSIAN])
    return opening_text(opening, now, hours.timezone, language)


def desk_time(at: datetime, timezone: ZoneInfo) -> str:
    """A moment for the managers' notes: "пт 10.01 21:05" in the client's timezone."""
    local = at.astimezone(timezone)
    return f"{_RU_SHORT_WEEKDAYS[local.weekday()]} {local:%d.%m %H:%M}"

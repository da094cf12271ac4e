"""What kind of fact a question asks for (a price, a time, a place, a contact, a term, an age) and
whether a line states one: a line of the asked kind is more likely the answer ("сколько стоит"
→ a line with ₸, "до скольки" → a line with 10:00). Russian, Kazakh, English and Russian in
Latin letters."""

from __future__ import annotations

import re
from functools import lru_cache

_I = re.IGNORECASE
ASKS: dict[str, re.Pattern[str]] = {
    "price": re.compile(
        r"скольк|скол|скок|скока|цен[аыуе]|стоит|стоим|почем|почём|прайс|доплат|дешев|дорог|"
        r"бесплатн|тенге|тыщ|тысяч|₸|\d+\s?к\b|қанша тұр|баға|ақы|ақысыз|how much|price|cost|"
        r"fee|charge|free|skolko|stoit|cena|tsena", _I),
    "time": re.compile(
        r"до скольки|во сколько|со скольки|часы|час[аов]?\b|время|времени|график|режим|открыт|"
        r"закрыт|работа[ею]т|выходн|перерыв|утр|вечер|ночь|ночн|будн|суббот|воскрес|праздн|"
        r"сағат|уақыт|кесте|ашық|жабық|жұмыс іст|сенбі|жексенбі|мереке|open|close|hours|time|"
        r"when|weekend|saturday|sunday|holiday|rabota|grafik|do skolki|vo skolko", _I),
    "place": re.compile(
        r"где\b|адрес|доехать|добрать|дойти|наход|район|этаж|остановк|автобус|метро|парков|"
        r"ориентир|филиал|вход|қай жер|қайда|мекенжай|қабат|аялдама|автотұрақ|where|address|"
        r"located|location|floor|bus|metro|parking|branch|gde|adres", _I),
    "contact": re.compile(
        r"телефон|номер|позвонить|ватсап|whatsapp|вотсап|инстаграм|instagram|сайт|почт|email|"
        r"e-mail|2гис|2gis|нөмір|\b(?:phone|number|call|website|site|mail)\b", _I),
    "term": re.compile(
        r"сколько дней|за сколько|срок|как долго|через сколько|когда будет|когда готов|гарант|"
        r"действу|неделю|месяц|қанша күн|мерзім|дайын|how long|how many days|warranty|valid|"
        r"ready", _I),
    "age": re.compile(r"возраст|лет\b|годик|ребен|ребён|дет[иья]|жас|бала|age|old|kid|child", _I),
}
STATES: dict[str, re.Pattern[str]] = {
    "price": re.compile(r"₸|тенге|\bбесплатн|тегін|\bfree\b", _I),
    "time": re.compile(r"\d{1,2}[:.]\d{2}|круглосуточ|выходной|закрыт|жабық", _I),
    "place": re.compile(
        r"\bул\.|улиц|\bпр\.|проспект|мкр|\bд\. ?\d|этаж|остановк|автобус|№ ?\d|ориентир|вход|"
        r"парков|метро|көше|қабат|аялдама|напротив|рядом|угол|двор", _I),
    "contact": re.compile(r"\+7[\s\d()-]{9,}|@\w|\w\.kz\b|2ГИС|2GIS|instagram|whatsapp", _I),
    "term": re.compile(
        r"\d+\s?(?:–\s?\d+\s?)?(?:дн|день|дня|час|недел|месяц|год|лет|жыл|күн|ай\b|сағат|мин)",
        _I),
    "age": re.compile(r"\d+\s?(?:лет|года|жас)|с \d+|от \d+ до \d+", _I),
}


@lru_cache(maxsize=1024)  # a search reads its question's kinds three to five times
def asked_kinds(question: str) -> frozenset[str]:
    return frozenset(kind for kind, pattern in ASKS.items() if pattern.search(question))


def kind_match(asked: frozenset[str], line: str) -> int:
    """How many of the asked kinds of fact the line states."""
    return len(asked & stated_kinds(line)) if asked else 0


@lru_cache(maxsize=4096)  # a knowledge base's lines come back search after search
def stated_kinds(line: str) -> frozenset[str]:
    return frozenset(kind for kind, pattern in STATES.items() if pattern.search(line))


# A number as written in the bases and by customers: "31", "4 300" (thousands after a space),
# "9:00" (the hour counts); "35,000" in a question is read as "35 000".
_NUMBER = r"\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?!\d)|\d+"
_SINGLE = re.compile(rf"(?<![\d:])({_NUMBER})(?::\d\d)?")
_RANGE = re.compile(rf"(?<![\d:])({_NUMBER})(?::\d\d)?(?:\s*₸)?\s*(?:[–—-]|до|по|to)\s*({_NUMBER})",
                    _I)
_COMMA_THOUSANDS = re.compile(r"(\d),(\d{3})\b")


def _value(text: str) -> int:
    return int(re.sub(r"\D", "", text))


def numbers_in(text: str) -> set[int]:
    return {_value(m.group(1)) for m in _SINGLE.finditer(_COMMA_THOUSANDS.sub(r"\1 \2", text))}


def states_number(numbers: set[int], line: str) -> bool:
    """Whether the line states one of the numbers the customer gave, or a range holding it: "31
    декабря" → "31 декабря: 9:00–17:00", not "28–30 декабря"; "дочке 10" → "7–12 лет"."""
    if not numbers:
        return False
    if numbers & numbers_in(line):
        return True
    ranges = [(_value(low), _value(high)) for low, high in _RANGE.findall(line)]
    return any(low <= number <= high for low, high in ranges if low < high for number in numbers)

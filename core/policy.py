"""The per-client escalation policy (PRODUCT.md §4): topics that must always reach a person."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.matching import compile_patterns, normalize


@dataclass(frozen=True, slots=True)
class PolicyTopic:
    name: str
    description: str
    phrases: tuple[str, ...]
    stems: tuple[str, ...]

    def matches(self, normalized_text: str, *, fuzzy: bool) -> str | None:
        return compile_patterns(self.phrases, self.stems).find(normalized_text, fuzzy=fuzzy)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "phrases": list(self.phrases), "stems": list(self.stems)}


def parse_policy(document: Any) -> list[PolicyTopic]:
    """Validate a policy document: a list of {name, description?, phrases?, stems?}."""
    if not isinstance(document, list):
        raise ValueError("the policy must be a list of topics")
    topics = []
    seen = set()
    for index, item in enumerate(document):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ValueError(f"topic #{index + 1} needs a name")
        name = item["name"].strip()
        if name in seen:
            raise ValueError(f"topic {name!r} appears twice")
        seen.add(name)
        lists = {}
        for key in ("phrases", "stems"):
            values = item.get(key) or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValueError(f"topic {name!r}: {key} must be a list of strings")
            lists[key] = tuple(v.strip() for v in values if v.strip())
        if not lists["phrases"] and not lists["stems"]:
            raise ValueError(f"topic {name!r} needs at least one phrase or stem")
        topics.append(PolicyTopic(name, str(item.get("description", "")), lists["phrases"],
                                  lists["stems"]))
    return topics


def match_policy(topics: list[PolicyTopic], text: str) -> tuple[PolicyTopic, str] | None:
    """The first topic the text hits exactly, else the first it hits with a typo."""
    normalized = normalize(text)
    for fuzzy in (False, True):
        for topic in topics:
            if matched := topic.matches(normalized, fuzzy=fuzzy):
                return topic, matched
    return None


DEFAULT_POLICY: list[PolicyTopic] = parse_policy([
    {
        "name": "payment",
        "description": "оплата, предоплата, карта, Kaspi, перевод, возврат денег",
        "phrases": ["kaspi", "каспи", "kaspi red", "картой", "карту", "по карте", "наличными",
                    "qr", "рассрочка", "вернуть деньги", "верните деньги", "refund", "pay", "payment",
                    "төлем", "төлеу"],
        "stems": ["оплат", "оплач", "заплат", "предоплат", "перевод", "перевест", "возврат",
                  "рассрочк", "каспий", "счет на оплату", "чек", "депозит", "аванс", "төле"],
    },
    {
        "name": "booking_change",
        "description": "перенос или отмена записи",
        "phrases": ["cancel", "reschedule"],
        "stems": ["перенест", "перенес", "перезапис", "отмен", "отмени", "сдвинуть запись",
                  "поменять время", "изменить время", "не смогу прийти", "не приду", "опозда",
                  "жазылуды ауыстыр", "болдырма"],
    },
    {
        "name": "medical",
        "description": "медицинские вопросы: аллергия, беременность, боль, противопоказания",
        "phrases": ["pregnant", "allergy", "allergic", "pain"],
        "stems": ["аллерг", "беремен", "кормлю грудью", "грудное вскармливан", "противопоказ",
                  "болит", "боль", "воспален", "покраснен", "отек", "ожог", "сыпь", "зуд",
                  "диабет", "гормон", "лекарств", "антибиот", "инфекц", "грибок", "жүкті",
                  "аллергия", "ауырады"],
    },
    {
        "name": "complaint",
        "description": "жалобы и недовольство качеством услуги",
        "phrases": ["не понравилось", "не понравился", "не понравилась", "плохо сделали",
                    "испортили", "complaint"],
        "stems": ["жалоб", "пожалов", "претензи", "недовол", "переделат", "переделайте",
                  "некачествен", "шағым", "ұнамады"],
    },
    {
        "name": "legal",
        "description": "юридические вопросы: договор, суд, защита прав потребителей",
        "phrases": ["lawyer", "court"],
        "stems": ["юрист", "адвокат", "суд", "договор", "защит прав потребител", "прокурат",
                  "полици", "заявлени", "иск"],
    },
])


def effective_policy(configured: list[dict[str, Any]] | None) -> list[PolicyTopic]:
    """A client's own topics, or the default set for service businesses when it has none."""
    return DEFAULT_POLICY if configured is None else parse_policy(configured)

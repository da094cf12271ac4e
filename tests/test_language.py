"""The language detector and the customer texts in three languages (pure)."""

from __future__ import annotations

import string
from uuid import uuid4

import pytest

from core.language import detect_language, turn_language
from core.models import Client, ClientSettings
from core.texts import CUSTOMER_DEFAULTS, CUSTOMER_TEXTS, NO_DESK, check_templates, customer_text


@pytest.mark.parametrize(("text", "language"), [
    ("Сколько стоит маникюр?", "ru"),
    ("Маникюр қанша тұрады?", "kk"),
    ("Сәлеметсіз бе", "kk"),
    ("салеметсиз бе, канша турады", "kk"),  # Kazakh typed on a Russian keyboard
    ("Менеджермен сөйлескім келеді", "kk"),
    ("How much is a manicure?", "en"),
    ("Salem, qansha turady?", "kk"),  # Kazakh in Latin letters
    # mixed Russian and Kazakh: Kazakh where its words outnumber the Russian ones
    ("Сәлеметсіз бе, маникюрге жазылғым келеді, сколько стоит?", "kk"),
    ("Сәлем, а сколько стоит стрижка у вас?", "ru"),
    ("Рахмет, до свидания", "ru"),
    ("Ертең маникюр жасауға бола ма? Вечером удобно", "kk"),
    ("Можно записаться на завтра? Рахмет", "ru"),
    # an English word in a Russian message does not make it English
    ("Можно записаться на manicure?", "ru"),
    # no evidence: the conversation keeps its language
    ("ок", None), ("👍", None), ("15:00", None), ("Маникюр", None), ("", None),
])
def test_detector(text: str, language: str | None) -> None:
    assert detect_language(text) == language


def test_a_message_without_evidence_keeps_the_conversations_language() -> None:
    assert turn_language("kk", "ок 👍") == "kk"
    assert turn_language(None, "ок") == "ru"
    assert turn_language("kk", "Спасибо, до свидания") == "ru"
    assert turn_language("ru", "Рахмет, түсіндім") == "kk"


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_customer_text_exists_in_every_language_with_the_same_placeholders() -> None:
    for language, texts in CUSTOMER_TEXTS.items():
        assert texts.keys() == CUSTOMER_DEFAULTS.keys(), language
        for key, text in texts.items():
            assert _fields(text) == _fields(CUSTOMER_DEFAULTS[key]), (language, key)
    # and each language is written in that language
    for key in ("escalated", "muted", "fallback", "greeting"):
        assert detect_language(CUSTOMER_TEXTS["kk"][key]) == "kk", key
        assert detect_language(CUSTOMER_TEXTS["en"][key].format(client_name="Salon")) == "en", key


def _client(templates: dict) -> Client:
    return Client(uuid4(), "salon", "Салон Айгерим", "active", ClientSettings(templates=templates))


def test_templates_per_language_and_the_flat_form_is_russian() -> None:
    client = _client({"greeting": "Привет от {client_name}!",
                      "kk": {"greeting": "Сәлем, {client_name}!"}})
    assert customer_text(client, "greeting") == "Привет от Салон Айгерим!"
    assert customer_text(client, "greeting", language="ru") == "Привет от Салон Айгерим!"
    assert customer_text(client, "greeting", language="kk") == "Сәлем, Салон Айгерим!"
    # no English override: our English text, not the client's Russian one
    assert customer_text(client, "greeting", language="en") == \
        CUSTOMER_TEXTS["en"]["greeting"].format(client_name="Салон Айгерим")
    assert customer_text(client, "muted", language="kk") == CUSTOMER_TEXTS["kk"]["muted"]
    assert customer_text(client, "muted", language="xx") == CUSTOMER_DEFAULTS["muted"]


def test_without_a_desk_no_text_offers_a_person() -> None:
    """The texts that offer "write «менеджер»" have a form without the offer, for a client (or
    branch) with no Telegram desk: nobody would take the request."""
    offering = [key.removesuffix(NO_DESK) for key in CUSTOMER_DEFAULTS if key.endswith(NO_DESK)]
    assert set(offering) == {"bot_identity", "fallback", "no_answer", "media_received",
                             "voice_received"}
    plain = _client({})
    for language in CUSTOMER_TEXTS:
        for key in offering:
            offer = customer_text(plain, key, language=language).lower()
            none = customer_text(plain, key, language=language, desk=False).lower()
            assert any(word in offer for word in ("менеджер", "manager")), (language, key)
            assert not any(word in none for word in ("менеджер", "manager", "адам")), \
                (language, key)


def test_without_a_desk_the_client_s_own_text_goes_before_ours() -> None:
    own = _client({"no_answer": "Не знаю, звоните: 8 700 000 00 00"})
    assert customer_text(own, "no_answer", desk=False) == "Не знаю, звоните: 8 700 000 00 00"
    both = _client({"no_answer": "С менеджером", "no_answer_no_desk": "Без менеджера"})
    assert customer_text(both, "no_answer", desk=False) == "Без менеджера"
    assert customer_text(both, "no_answer") == "С менеджером"
    # a key with no `_no_desk` form is the same either way
    assert customer_text(_client({}), "thanks", desk=False) == CUSTOMER_DEFAULTS["thanks"]


def test_a_broken_stored_template_falls_back_to_ours_in_the_same_language() -> None:
    client = _client({"kk": {"escalated_closed": "Менеджер {when_typo} жауап береді"}})
    assert customer_text(client, "escalated_closed", language="kk", when="ертең") == \
        CUSTOMER_TEXTS["kk"]["escalated_closed"].format(when="ертең")


@pytest.mark.parametrize(("templates", "error"), [
    ({"greting": "x"}, "templates.greting: unknown text"),
    ({"kk": {"greeting": "Сәлем {name}"}}, "templates.kk.greeting: unknown placeholder {name}"),
    ({"greeting": "{when}"}, "unknown placeholder {when}"),
    ({"kk": "Сәлем"}, "templates.kk must be an object"),
    ({"en": {"thanks": "  "}}, "templates.en.thanks must be a non-empty text"),
    ({"thanks": "{"}, "must be doubled"),
    (["greeting"], "templates must be an object"),
])
def test_bad_templates_are_refused_with_the_reason(templates: object, error: str) -> None:
    with pytest.raises(ValueError, match=error.replace("{", r"\{").replace("}", r"\}")):
        check_templates(templates)


def test_good_templates_pass_as_they_are() -> None:
    templates = {"greeting": "Привет!", "kk": {"escalated_closed": "Менеджер {when} жауап береді."},
                 "en": {"thanks": "Thanks from {client_name}"}}
    assert check_templates(templates) == templates

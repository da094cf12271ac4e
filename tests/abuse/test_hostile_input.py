"""Hostile input never yields a 5xx (issue 11): property-based fuzzing of the ChatFlow payload
parser and of every JSON endpoint through the real app, plus the hand-made poisons that once got
500s (deep nesting, NaN / Infinity / 1e400, NUL and lone surrogates, integers out of range).
Nothing is half-stored: a refused request writes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.chatflow.inbound import InvalidPayload, parse, read_json, unwrap
from core import safe_json
from tests.factories import WEBHOOK_SECRET
from tests.whatsapp.conftest import JID

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

scalars = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=15)
chatflow_payloads = st.fixed_dictionaries({
    "messageType": st.sampled_from(["text", "image", "ptt", "document", "sticker"]) | json_values,
    "message": st.text(max_size=300) | json_values,
    "metadata": st.fixed_dictionaries({
        "messageId": st.text(max_size=300) | json_values,
        "remoteJid": st.from_regex(r"\A7\d{10}@s\.whatsapp\.net\Z") | json_values,
        "sender": st.text(max_size=50) | json_values,
        "timestamp": st.integers(min_value=-2**70, max_value=2**70) | json_values}),
    "mediaData": st.none() | json_values,
})

# What once made a 500: each must be a 4xx now.
POISONS: list[bytes] = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
    b'{"messageType": "text", "message": NaN}',
    b'{"messageType": "text", "message": Infinity}',
    b'{"metadata": {"timestamp": 1e400}}',
    b'{"message": "\\u0000\\ud800", "metadata": {"remoteJid": "77011234567", "messageId": "\\u0000"}}',
    b"\xff\xfe not utf-8",
    b"",
    b"null",
    b'"just a string"',
]


@FUZZ
@given(document=chatflow_payloads)
def test_the_parser_accepts_or_refuses_with_a_reason(document: dict[str, Any]) -> None:
    raw = json.dumps(document).encode()
    try:
        message = parse(unwrap(read_json(raw))[1])
    except InvalidPayload as exc:
        assert str(exc)
        return
    assert message.remote_jid.endswith("@s.whatsapp.net") and message.provider_message_id
    assert "\x00" not in message.text


@FUZZ
@given(raw=st.binary(max_size=400) | st.sampled_from(POISONS))
def test_safe_json_refuses_or_returns_clean_json(raw: bytes) -> None:
    try:
        value = safe_json.loads(raw)
    except safe_json.InvalidJSON:
        return
    assert "\x00" not in json.dumps(value, ensure_ascii=False)


@pytest.fixture
async def app(start_app, wa_settings, demo):
    return await start_app(wa_settings)


def _no_5xx(status: int) -> None:
    assert status < 500 or status == 503, status


@FUZZ
@given(document=chatflow_payloads)
async def test_the_webhook_never_answers_5xx(app, db, document: dict[str, Any]) -> None:
    response = await app.post("/webhook/demo_salon", data=json.dumps(document),
                              params={"webhook_secret": WEBHOOK_SECRET},
                              headers={"Content-Type": "application/json"})
    _no_5xx(response.status)
    assert response.status in (200, 400)


async def test_poisons_are_refused_not_stored(app, db, admin_headers) -> None:
    for body in POISONS:
        for path, headers in (("/webhook/demo_salon?webhook_secret=" + WEBHOOK_SECRET, {}),
                              ("/webhook", {}), ("/message", admin_headers),
                              ("/callback", admin_headers), ("/admin/clients", admin_headers),
                              ("/admin/clients/demo_salon", admin_headers)):
            method = app.patch if path == "/admin/clients/demo_salon" else app.post
            response = await method(path, data=body, headers=headers)
            _no_5xx(response.status)
    assert await db.fetchval("SELECT count(*) FROM inbound_events") == 0
    assert await db.fetchval("SELECT count(*) FROM clients") == 1


async def test_names_and_numbers_that_the_database_cannot_hold_are_refused(
        app, db, admin_headers) -> None:
    cases = [
        ("POST", "/webhook/demo%00salon", {}, {"message": "x"}),
        ("POST", "/telegram-webhook/demo%00salon", {}, {"update_id": 1}),
        ("GET", "/admin/clients/demo%00salon", admin_headers, None),
        ("PATCH", "/admin/clients/demo_salon", admin_headers, {"telegram_chat_id": 10**20}),
        ("PATCH", "/admin/clients/demo_salon", admin_headers, {"owner_telegram_ids": [2**63]}),
        ("PATCH", "/admin/clients/demo_salon", admin_headers, {"reminder_timeout_1": 2**40}),
        ("PATCH", "/admin/clients/demo_salon", admin_headers, {"name": "a\u0000b"}),
        ("POST", "/callback", admin_headers, {"conversation_id": "00000000-0000-0000-0000-000000000000",
                                              "action": "take", "manager_id": 2**63}),
        ("POST", "/message", admin_headers, {"client_id": "demo\u0000salon", "remote_jid": JID,
                                             "content": "x"}),
        ("POST", "/message", admin_headers, {"client_id": "demo_salon", "remote_jid": JID,
                                             "content": "\u0000\ud800 привет"}),
    ]
    for method, path, headers, body in cases:
        response = await app.request(method, path, headers=headers,
                                     data=json.dumps(body) if body is not None else None)
        _no_5xx(response.status)
    settings = await db.fetchrow("SELECT telegram_chat_id, owner_telegram_ids, reminder_timeout_1 "
                                 "FROM client_settings")
    assert dict(settings) == {"telegram_chat_id": -1001, "owner_telegram_ids": [],
                              "reminder_timeout_1": 30}


@FUZZ
@given(body=json_values)
async def test_json_endpoints_never_answer_5xx(app, db, admin_headers, body: Any) -> None:
    raw = json.dumps(body)
    for method, path in (("POST", "/message"), ("POST", "/callback"), ("POST", "/admin/clients"),
                         ("PATCH", "/admin/clients/demo_salon"),
                         ("PUT", "/admin/clients/demo_salon/policy"),
                         ("POST", "/admin/clients/demo_salon/branches"),
                         ("PUT", "/admin/clients/demo_salon/prompt")):
        response = await app.request(method, path, data=raw, headers=admin_headers)
        _no_5xx(response.status)


def test_bodies_are_cleaned_and_bounded_whichever_way_they_are_written() -> None:
    assert safe_json.loads(b'{"\\u0000key": ["a\\u0000b", "\\ud800"]}') == {"key": ["ab", "?"]}
    assert safe_json.loads('{"a": "\ud800x"}') == {"a": "?x"}  # handed in as str
    assert safe_json.loads(b'{"a": "\\u0041\\uD83D\\uDE00"}') == {"a": "A\U0001F600"}
    many_but_shallow = b"[" + b",".join([b"[]"] * 40) + b"]"  # 41 brackets, two levels
    assert safe_json.loads(many_but_shallow) == [[]] * 40
    with pytest.raises(safe_json.InvalidJSON, match="deeper than 32"):
        safe_json.loads(b"[" * 33 + b"]" * 33)
    assert safe_json.loads(b"[" * 32 + b"]" * 32) is not None

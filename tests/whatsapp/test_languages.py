"""Kazakh as a first-class language, end to end through the webhook, the workers and the fake
ChatFlow: the templates, the language stored on the conversation, the LLM told the language, the
no-LLM answer taken from a passage in the customer's language, per-language client templates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from core.delivery import DeliveryOutcome
from core.outbound import CustomerText
from core.texts import CUSTOMER_TEXTS
from gateway.outbox_worker import OutboxWorker
from storage.repositories import clients
from storage.store import PgStore, PgTenants
from tests.factories import make_conversation
from tests.fakes import wait_for
from tests.whatsapp.conftest import knowledge_of, post, text_payload

KK = CUSTOMER_TEXTS["kk"]


async def _say(client, chatflow, text: str, message_id: str, jid: str | None = None) -> str:
    before = len(chatflow.delivered())
    await post(client, text_payload(text, message_id, **({"jid": jid} if jid else {})))
    await wait_for(lambda: len(chatflow.delivered()) > before, timeout=15)
    return chatflow.delivered()[-1]["msg"]


async def test_a_kazakh_conversation_gets_kazakh_templates(start_app, wa_settings, demo, db,
                                                           chatflow) -> None:
    client = await start_app(wa_settings)
    greeting = await _say(client, chatflow, "Сәлеметсіз бе!", "KZ-1")
    assert greeting == KK["greeting"].format(client_name=demo.name)
    assert await db.fetchval("SELECT language FROM conversations") == "kk"

    # no LLM, nothing in the knowledge base: the "write «менеджер»" answer, in Kazakh
    unknown = await _say(client, chatflow, "Сіздерде тегін кофе бар ма?", "KZ-2")
    assert unknown == KK["no_answer"]

    muted = await _say(client, chatflow, "Жазбаңыз", "KZ-3")
    assert muted == KK["muted"]

    # a muted customer who asks for a person reaches one
    escalated = await _say(client, chatflow, "Менеджермен сөйлескім келеді", "KZ-4")
    assert escalated == KK["escalated"]
    assert await db.fetchval("SELECT state FROM conversations") == "pending"

    # "ок" says nothing about the language: the conversation stays Kazakh
    await post(client, text_payload("ок", "KZ-5"))
    await wait_for(lambda: db.fetchval("SELECT count(*) FROM messages WHERE content = 'ок'"))
    assert await db.fetchval("SELECT language FROM conversations") == "kk"


async def test_mixed_messages_follow_the_language_that_dominates(start_app, wa_settings, demo, db,
                                                                 chatflow) -> None:
    client = await start_app(wa_settings)
    kazakh = await _say(client, chatflow, "Сәлем! Маникюрге жазылғым келеді, бүгін бола ма?",
                        "MX-1", jid="77010000001@s.whatsapp.net")
    russian = await _say(client, chatflow, "Сәлем! А сколько у вас стоит стрижка?", "MX-2",
                         jid="77010000002@s.whatsapp.net")
    assert kazakh == KK["no_answer"]
    assert russian == CUSTOMER_TEXTS["ru"]["no_answer"]


async def test_per_language_client_templates(start_app, wa_settings, demo, db, chatflow) -> None:
    await clients.update_settings(db, demo.id, {"templates": {
        "greeting": "Добро пожаловать в {client_name}!",
        "kk": {"greeting": "{client_name} салонына қош келдіңіз!"}}})
    client = await start_app(wa_settings)
    kazakh = await _say(client, chatflow, "Сәлеметсіз бе", "T-1", jid="77010000003@s.whatsapp.net")
    russian = await _say(client, chatflow, "Здравствуйте", "T-2", jid="77010000004@s.whatsapp.net")
    english = await _say(client, chatflow, "Hello", "T-3", jid="77010000005@s.whatsapp.net")
    assert kazakh == f"{demo.name} салонына қош келдіңіз!"
    assert russian == f"Добро пожаловать в {demo.name}!"
    assert english == CUSTOMER_TEXTS["en"]["greeting"].format(client_name=demo.name)


PRICES = """# Маникюр
Маникюр с покрытием гель-лак стоит 9 000 тенге, без покрытия 5 000 тенге.

# Маникюр қазақша
Гель-лак жабыны бар маникюр 9 000 теңге тұрады, жабынсыз маникюр 5 000 теңге тұрады.
"""


async def test_the_no_llm_answer_prefers_a_passage_in_the_customers_language(
        start_app, wa_settings, demo, chatflow) -> None:
    client = await start_app(wa_settings)
    await knowledge_of(client).ingest_document("demo_salon", "prices", PRICES)
    # Russian words in a Kazakh question: the Russian passage ranks first, the Kazakh one answers
    kazakh = await _say(client, chatflow, "Маникюр с покрытием қанша тұрады?", "P-1",
                        jid="77010000006@s.whatsapp.net")
    russian = await _say(client, chatflow, "Сколько стоит маникюр с покрытием гель-лак?", "P-2",
                         jid="77010000007@s.whatsapp.net")
    assert "теңге тұрады" in kazakh
    assert "стоит 9 000 тенге" in russian


@pytest.fixture
def llm_settings(wa_settings, openai_fake):
    return wa_settings.model_copy(update={
        "openai_base_url": str(openai_fake.server.make_url("/v1")),
        "openai_api_key": SecretStr("sk-test-key"), "llm_timeout_seconds": 1.0})


async def test_the_llm_is_told_the_customers_language(start_app, llm_settings, demo, db, chatflow,
                                                      openai_fake) -> None:
    client = await start_app(llm_settings)
    await _say(client, chatflow, "Ертең маникюр жасауға бола ма?", "L-1")
    system = openai_fake.answer_requests()[-1]["messages"][0]["content"]
    assert "отвечай на казахском языке" in system


async def test_a_failing_llm_falls_back_in_kazakh(start_app, llm_settings, demo, chatflow,
                                                 openai_fake) -> None:
    openai_fake.fail_with = 503
    client = await start_app(llm_settings)
    reply = await _say(client, chatflow, "Ертең маникюр жасауға бола ма?", "L-2")
    assert reply == KK["fallback"]


class Unreachable:
    async def deliver(self, delivery) -> DeliveryOutcome:
        return DeliveryOutcome.failed("ChatFlow send-text: ClientConnectorError")


async def test_the_apology_for_an_undelivered_reply_is_in_the_customers_language(
        db, database_dsn, demo) -> None:
    jid = "77010000008@s.whatsapp.net"
    conversation = await make_conversation(db, demo.id, jid, language="kk")
    store = PgStore(db, reply_retry=timedelta(0))  # the reply's retry window is over at once
    async with store.transaction() as tx:
        await tx.outbox.enqueue(demo.id, CustomerText(conversation, jid, "Иә, бар"), "reply:kk")
    worker = OutboxWorker(db, database_dsn, {"whatsapp": Unreachable()}, store=store,
                          tenants=PgTenants(db))
    assert await worker.run_once() == 1
    apology = await db.fetchval("SELECT payload FROM outbox WHERE idempotency_key = 'reply:kk:apology'")
    assert apology["text"] == KK["delivery_apology"]

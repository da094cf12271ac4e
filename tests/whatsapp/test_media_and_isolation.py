"""Customer media, and tenant isolation through the pipeline."""

from core.answers import Answerer
from core.desk import Desk
from core.pipeline import TurnProcessor
from storage.repositories import clients
from storage.store import PgStore, PgTenants
from tests.factories import incoming, make_client, make_conversation
from tests.fakes import wait_for
from tests.whatsapp.conftest import knowledge_of, post


def image_payload(message_id: str, caption: str = "") -> dict:
    return {"messageType": "image", "message": caption,
            "metadata": {"sender": "Айгерим", "timestamp": 1764929737, "messageId": message_id,
                         "remoteJid": "77011234567@s.whatsapp.net"},
            "mediaData": {"type": "image", "mimetype": "image/jpeg", "url": "https://cdn.example/x.jpg",
                          "fileName": "x.jpg", "caption": caption, "ptt": False, "seconds": 0, "size": 1234}}


async def test_media_without_text_gets_a_hint_and_is_stored(start_app, wa_settings, demo, db, chatflow) -> None:
    client = await start_app(wa_settings)
    response = await post(client, image_payload("IMG-1"))
    assert response.status == 200
    await wait_for(lambda: chatflow.delivered())
    assert "вложение" in chatflow.delivered()[0]["msg"]
    row = await db.fetchrow("SELECT content, metadata FROM messages WHERE role = 'user'")
    assert row["content"] == "[image]" and row["metadata"]["media"]["url"] == "https://cdn.example/x.jpg"


async def test_media_caption_is_the_question(start_app, wa_settings, demo, db, chatflow) -> None:
    client = await start_app(wa_settings)
    await post(client, image_payload("IMG-2", caption="позовите менеджера"))
    await wait_for(lambda: chatflow.delivered())
    assert "менеджеру" in chatflow.delivered()[0]["msg"]


async def test_customer_media_while_pending_is_forwarded_to_the_topic(db, demo) -> None:
    await clients.update_settings(db, demo.id, {"telegram_bot_token": "1:x", "telegram_chat_id": -1001})
    conv = await make_conversation(db, demo.id)
    store = PgStore(db)
    processor = TurnProcessor(store, PgTenants(db), Answerer(None, None), None, Desk(store))
    await processor.process(conv, [incoming("позовите менеджера", provider_message_id="a")])
    await processor.process(conv, [
        incoming("вот фото", provider_message_id="b"),
        incoming("", "image", {"url": "https://cdn.example/y.jpg", "caption": ""},
                        provider_message_id="c")])
    kinds = [r["kind"] for r in await db.fetch("SELECT kind FROM outbox WHERE channel = 'telegram' ORDER BY id")]
    assert kinds == ["escalation_card", "mirror", "media_forward"]
    mirror = await db.fetchval("SELECT payload FROM outbox WHERE kind = 'mirror'")
    assert mirror["lines"] == ["вот фото"]


async def test_tenants_never_see_each_others_knowledge_through_the_pipeline(start_app, wa_settings, db) -> None:
    alpha = await make_client(db, "alpha", debounce_seconds=0)
    beta = await make_client(db, "beta", debounce_seconds=0)
    client = await start_app(wa_settings)
    kb = knowledge_of(client)
    await kb.ingest_document("alpha", "prices", "# Цены\nМаникюр с покрытием гель-лак стоит 7 000 тенге.")
    await kb.ingest_document("beta", "prices", "# Цены\nМаникюр с покрытием гель-лак стоит 12 000 тенге.")
    store = PgStore(db)
    processor = TurnProcessor(store, PgTenants(db), Answerer(kb, None), None, Desk(store))
    replies = {}
    for tenant in (alpha, beta):
        conv = await make_conversation(db, tenant.id)
        outcome = await processor.process(conv, [incoming("сколько стоит маникюр с покрытием гель-лак?",
                                                                 provider_message_id="q")])
        replies[tenant.slug] = outcome.reply
    assert "7 000" in replies["alpha"] and "12 000" not in replies["alpha"]
    assert "12 000" in replies["beta"] and "7 000" not in replies["beta"]

"""Customer voice notes: transcribed (the fake OpenAI server's `/v1/audio/transcriptions`, the
audio fetched from the fake ChatFlow's media link) and answered as text, the transcript shown to
the manager marked as one; without a transcriber (or when it fails) the voice goes to the
customer's topic when they have one, and the "please write" template only when no person is
involved."""

from __future__ import annotations

from typing import Any

from ai.settings import TranscriptionSettings
from ai.transcription import OpenAITranscriber
from core.answers import Answerer
from core.desk import Desk
from core.pipeline import TurnProcessor
from core.texts import CUSTOMER_DEFAULTS, CUSTOMER_TEXTS
from storage.store import PgStore, PgTenants
from tests.factories import incoming, make_conversation
from tests.fakes import wait_for
from tests.telegram.conftest import JID, open_request
from tests.whatsapp.conftest import post

PLEASE_WRITE = CUSTOMER_DEFAULTS["voice_received"]


def voice_payload(message_id: str, url: str) -> dict[str, Any]:
    return {"messageType": "ptt", "message": "",
            "metadata": {"sender": "Айгерим", "timestamp": 1764929737, "messageId": message_id,
                         "remoteJid": JID},
            "mediaData": {"type": "ptt", "mimetype": "audio/ogg; codecs=opus", "url": url,
                          "fileName": "", "caption": "", "ptt": True, "seconds": 4, "size": 15}}


def voice(url: str, message_id: str) -> Any:
    return incoming("", "ptt", {"url": url, "mimetype": "audio/ogg; codecs=opus"},
                    provider_message_id=message_id)


def texts_to_customer(chatflow) -> list[str]:
    return [c["msg"] for c in chatflow.delivered() if c["endpoint"] == "send-text"]


def transcriber_for(openai_fake, **settings: Any) -> OpenAITranscriber:
    return OpenAITranscriber(TranscriptionSettings(
        model="whisper-1", base_url=str(openai_fake.server.make_url("/v1")), **settings))


async def test_a_voice_note_is_transcribed_and_answered(start_app, tg_settings, db, tg, chatflow,
                                                        openai_fake, client_a) -> None:
    # an answer that states no fact (with no knowledge loaded, one that did would be replaced
    # by the fallback as ungrounded)
    openai_fake.reply = "Подскажите, на какой день вас записать?"
    app = await start_app(tg_settings.model_copy(update={
        "openai_base_url": str(openai_fake.server.make_url("/v1")),
        "transcribe_model": "whisper-1"}))
    ready = await (await app.get("/ready")).json()
    assert ready["checks"]["transcription"] == {"status": "ok", "model": "whisper-1"}

    await post(app, voice_payload("V-1", chatflow.media_url("v1.ogg", b"OggS-first")),
               slug="salon_a")
    await wait_for(lambda: texts_to_customer(chatflow))
    assert texts_to_customer(chatflow) == [openai_fake.reply]
    (upload,) = openai_fake.transcriptions
    assert upload == {"model": "whisper-1", "filename": "voice.ogg", "content_type": "audio/ogg",
                      "bytes": b"OggS-first"}
    question = openai_fake.answer_requests()[0]["messages"][-1]["content"]
    assert "Сколько стоит маникюр?" in question
    stored = await db.fetchrow("SELECT content, metadata FROM messages WHERE role = 'user'")
    assert stored["content"] == "Сколько стоит маникюр?"
    assert stored["metadata"]["transcribed"] is True and stored["metadata"]["type"] == "ptt"

    # a voice asking for a person escalates; the next one reaches the manager as a transcript
    openai_fake.transcripts = ["Позовите менеджера", "Хочу перенести запись на пятницу"]
    await post(app, voice_payload("V-2", chatflow.media_url("v2.ogg")), slug="salon_a")
    await wait_for(lambda: tg.of("pinChatMessage"))
    assert "Позовите менеджера" in tg.sent_texts()[0]
    await post(app, voice_payload("V-3", chatflow.media_url("v3.ogg")), slug="salon_a")
    await wait_for(lambda: "👤 Клиент: 🎤 (голосовое, расшифровка) Хочу перенести запись на пятницу"
                   in tg.sent_texts())
    (forwarded,) = await wait_for(lambda: tg.of("sendVoice"))
    assert forwarded.params["voice"] == chatflow.media_url("v3.ogg")
    assert len(texts_to_customer(chatflow)) == 2  # the answer, then "a manager will answer"


async def test_without_a_transcriber_a_voice_gets_the_please_write_template(db, client_a) -> None:
    """No person involved and no topic: the template, nothing for the desk."""
    conversation_id = await make_conversation(db, client_a.id)
    store = PgStore(db)
    processor = TurnProcessor(store, PgTenants(db), Answerer(None, None), None, Desk(store))
    outcome = await processor.process(conversation_id, [voice("https://cdn.example/a.ogg", "a")])
    assert outcome.reply == PLEASE_WRITE
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE channel = 'telegram'") == 0


async def test_the_please_write_template_is_in_the_customers_language(db, client_a) -> None:
    store = PgStore(db)
    processor = TurnProcessor(store, PgTenants(db), Answerer(None, None), None, Desk(store))
    for language, jid in (("kk", "77010000001@s.whatsapp.net"), ("en", "77010000002@s.whatsapp.net")):
        conversation_id = await make_conversation(db, client_a.id, jid, language=language)
        outcome = await processor.process(conversation_id, [voice("https://cdn.example/a.ogg", jid)])
        assert outcome.reply == CUSTOMER_TEXTS[language]["voice_received"] != PLEASE_WRITE


async def test_an_unheard_voice_goes_to_the_topic_and_the_template_only_without_a_person(
        db, chatflow, openai_fake, client_a) -> None:
    openai_fake.fail_transcription_with = 400  # configured, but failing: as if there were none
    transcriber = transcriber_for(openai_fake)
    store = PgStore(db)
    processor = TurnProcessor(store, PgTenants(db), Answerer(None, None), None, Desk(store),
                              transcriber=transcriber)
    # the bot has the customer, who has a topic from an earlier request: both
    conversation_id = await make_conversation(db, client_a.id, telegram_chat_id=-1001111111111,
                                              telegram_topic_id=10)
    outcome = await processor.process(conversation_id, [voice(chatflow.media_url("a.ogg"), "a")])
    assert outcome.reply == PLEASE_WRITE
    assert len(openai_fake.transcriptions) == 1
    forwards = await db.fetch("SELECT payload FROM outbox WHERE kind = 'media_forward'")
    assert [f["payload"]["media"]["type"] for f in forwards] == ["ptt"]
    # a manager is involved: forwarded, and no "please write"
    await open_request(db, client_a, conversation_id=conversation_id)
    outcome = await processor.process(conversation_id, [voice(chatflow.media_url("b.ogg"), "b")])
    assert outcome.reply != PLEASE_WRITE
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE kind = 'media_forward'") == 2
    await transcriber.aclose()


async def test_the_transcriber_refuses_what_it_cannot_fetch(chatflow, openai_fake) -> None:
    transcriber = transcriber_for(openai_fake)
    small = OpenAITranscriber(TranscriptionSettings(
        model="whisper-1", base_url=str(openai_fake.server.make_url("/v1"))), max_bytes=4)
    try:
        missing = await transcriber.transcribe(str(chatflow.server.make_url("/media/none.ogg")))
        assert (missing.ok, missing.error) == (False, "HTTP 404")
        local = await transcriber.transcribe("file:///etc/passwd")
        assert (local.ok, local.error) == (False, "not an http(s) link")
        large = await small.transcribe(chatflow.media_url("big.ogg", b"0123456789"))
        assert (large.ok, large.error) == (False, "the audio is too large")
        assert openai_fake.transcriptions == []
        heard = await transcriber.transcribe(chatflow.media_url("ok.mp3", b"ID3"),
                                             mimetype="audio/mpeg")
        assert heard.ok and heard.value == "Сколько стоит маникюр?"
        assert openai_fake.transcriptions[0]["filename"] == "voice.mp3"
    finally:
        await transcriber.aclose()
        await small.aclose()


def test_transcription_settings() -> None:
    import pytest

    from gateway.settings import SettingsError, load_settings

    off = load_settings(_env_file=None)
    assert not off.transcription.enabled
    shared = load_settings(_env_file=None, transcribe_model="whisper-1",
                           openai_base_url="http://llm.local/v1", openai_api_key="sk-llm")
    assert shared.transcription.base_url == "http://llm.local/v1"
    own = load_settings(_env_file=None, transcribe_model="whisper-1",
                        openai_base_url="http://llm.local/v1",
                        transcribe_base_url="http://whisper.local/v1/")
    assert own.transcription.base_url == "http://whisper.local/v1"
    with pytest.raises(SettingsError, match="TRANSCRIBE_MODEL: needs an endpoint"):
        load_settings(_env_file=None, transcribe_model="whisper-1")

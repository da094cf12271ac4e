"""Intents, the escalation policy and mute, through the real pipeline with no LLM configured."""

import itertools
from datetime import timedelta

import pytest

from core.answers import Answerer
from core.desk import Desk
from core.intents import classify_by_rules
from core.models import Intent
from core.pipeline import TurnProcessor
from core.policy import DEFAULT_POLICY, match_policy, parse_policy
from core.texts import CUSTOMER_TEXTS
from storage.repositories import clients
from storage.store import PgStore, PgTenants
from tests.factories import incoming, make_conversation

_ids = itertools.count()


@pytest.fixture
async def turn(db, demo):
    """Run one turn through the real pipeline (no LLM, no knowledge) for a client with a desk."""
    store = PgStore(db)
    processor = TurnProcessor(store, PgTenants(db), Answerer(None, None), None, Desk(store))

    async def run(text: str, conversation=None):
        conv = conversation or await make_conversation(db, demo.id, f"7701{next(_ids):07d}@s.whatsapp.net")
        outcome = await processor.process(conv, [incoming(text, provider_message_id=f"m{next(_ids)}")])
        return conv, outcome
    return run


@pytest.mark.parametrize("text", [
    "позовите менеджера", "оператор", "хочу поговорить с человеком", "менеджерді шақырыңыз",
    "call a manager", "живой человек", "менеджермен сөйлескім келеді", "позавите менеджра пожалуйста",
    "Можно с администратором связаться?", "I want to talk to a human",
])
async def test_human_requests_escalate_without_an_llm(turn, db, text) -> None:
    _conv, outcome = await turn(text)
    assert outcome.act == "escalate" and outcome.intent == Intent.HUMAN_REQUEST
    assert outcome.state == "pending"
    # in the language the customer wrote in (tests/whatsapp/test_languages.py)
    assert outcome.reply in {texts["escalated"] for texts in CUSTOMER_TEXTS.values()}
    handover = await db.fetchrow("SELECT trigger_type, trigger_value, user_message FROM handovers")
    assert (handover["trigger_type"], handover["trigger_value"]) == ("intent", "human_request")
    assert handover["user_message"] == text


@pytest.mark.parametrize(("text", "intent"), [("спасибо", "thanks"), ("привет", "greeting"),
                                              ("рахмет", "thanks"), ("Добрый день!", "greeting"),
                                              ("сәлеметсіз бе", "greeting")])
async def test_thanks_and_greetings_do_not_escalate(turn, db, text, intent) -> None:
    _, outcome = await turn(text)
    assert outcome.act == "small_talk" and outcome.intent == intent
    assert outcome.state == "bot_active"
    assert await db.fetchval("SELECT count(*) FROM handovers") == 0


async def test_stop_mutes_for_30_minutes_then_24_hours(turn, db) -> None:
    conv, first = await turn("стоп")
    assert first.act == "mute" and "не буду беспокоить" in first.reply
    row = await db.fetchrow("SELECT bot_muted_until - now() AS left, no_count FROM conversations WHERE id = $1", conv)
    assert timedelta(minutes=29) < row["left"] <= timedelta(minutes=30) and row["no_count"] == 1
    # Muted: stored, no reply.
    _, silent = await turn("сколько стоит маникюр?", conv)
    assert silent.act == "silent" and silent.reply is None
    assert await db.fetchval("SELECT count(*) FROM messages WHERE conversation_id = $1 AND role = 'user'", conv) == 2
    await db.execute("UPDATE conversations SET bot_muted_until = now() - interval '1 s' WHERE id = $1", conv)
    _, second = await turn("не пишите мне", conv)
    assert second.act == "mute"
    row = await db.fetchrow("SELECT bot_muted_until - now() AS left, no_count FROM conversations WHERE id = $1", conv)
    assert timedelta(hours=23, minutes=59) < row["left"] <= timedelta(hours=24) and row["no_count"] == 2


@pytest.mark.parametrize(("text", "topic"), [
    ("можно оплатить через Kaspi?", "payment"),
    ("хочу перенести запись на завтра", "booking_change"),
    ("у меня аллергия на гель-лак, можно?", "medical"),
    ("мне не понравилось, хочу пожаловаться", "complaint"),
    ("я беременна, можно делать ламинирование?", "medical"),
    ("можно отменить запись на субботу?", "booking_change"),
])
async def test_default_policy_escalates_with_trigger_policy(turn, db, text, topic) -> None:
    _, outcome = await turn(text)
    assert outcome.act == "escalate" and outcome.state == "pending"
    row = await db.fetchrow("SELECT trigger_type, trigger_value FROM handovers")
    assert (row["trigger_type"], row["trigger_value"]) == ("policy", topic)


@pytest.mark.parametrize("text", ["сколько стоит маникюр?", "вы бот?", "где вы находитесь?",
                                  "до скольки работаете?", "есть парковка?"])
async def test_ordinary_questions_do_not_escalate(turn, db, text) -> None:
    _, outcome = await turn(text)
    assert outcome.act in ("answer", "small_talk") and outcome.state == "bot_active"
    assert await db.fetchval("SELECT count(*) FROM handovers") == 0


async def test_bot_question_gets_the_bot_identity_reply(turn) -> None:
    _, outcome = await turn("вы бот?")
    assert "виртуальный помощник" in outcome.reply


async def test_an_edited_policy_takes_effect_without_restart(turn, db, demo) -> None:
    _, before = await turn("сколько стоит маникюр?")
    assert before.act == "answer"
    topics = [{"name": "prices", "description": "цены", "stems": ["сколько стоит"]}]
    await clients.update_settings(db, demo.id, {"escalation_policy": topics})
    _, after = await turn("сколько стоит маникюр?")
    assert after.act == "escalate"
    assert await db.fetchval("SELECT trigger_value FROM handovers") == "prices"
    _, kaspi = await turn("можно оплатить через Kaspi?")  # the default topics are replaced
    assert kaspi.act == "answer"


async def test_second_escalation_reuses_the_open_handover(turn, db) -> None:
    conv, _ = await turn("позовите менеджера")
    _, second = await turn("ну где менеджер??", conv)
    assert second.act == "forward" and second.state == "pending"
    assert second.reply is None  # just told "Передал менеджеру": no "soon" notice right after
    await db.execute("UPDATE conversations SET pending_notice_at = now() - interval '11 minutes'")
    _, third = await turn("алло", conv)
    assert third.reply and "Менеджер скоро ответит" in third.reply
    _, fourth = await turn("алло?", conv)
    assert fourth.reply is None  # one notice per 10 minutes
    assert await db.fetchval("SELECT count(*) FROM handovers") == 1


async def test_declining_a_manager_cancels_a_pending_request_but_is_no_request(turn, db) -> None:
    _, first = await turn("менеджер не нужен, просто скажите цену")
    assert first.act == "answer" and first.state == "bot_active"
    conv, _ = await turn("позовите менеджера")
    _, second = await turn("уже не нужно менеджера", conv)
    assert second.act == "opt_out" and second.state == "bot_active"


@pytest.mark.parametrize(("text", "answer"), [("Вы живой человек?", "виртуальный помощник"),
                                              ("вы бот или живой человек?", "виртуальный помощник"),
                                              ("Are you a real person?", "virtual assistant")])
async def test_questions_about_the_bot_do_not_escalate(turn, db, text, answer) -> None:
    _, outcome = await turn(text)
    assert outcome.act == "small_talk" and answer in outcome.reply
    assert await db.fetchval("SELECT count(*) FROM handovers") == 0


async def test_without_a_desk_the_customer_is_told_and_the_bot_stays(db, demo) -> None:
    await clients.update_settings(db, demo.id, {"telegram_bot_token": None})
    store = PgStore(db)
    processor = TurnProcessor(store, PgTenants(db), Answerer(None, None), None, Desk(store))
    conv = await make_conversation(db, demo.id)
    outcome = await processor.process(conv, [incoming("позовите менеджера", provider_message_id="n1")])
    assert outcome.act == "no_desk" and outcome.state == "bot_active" and "позвоните" in outcome.reply
    assert await db.fetchval("SELECT count(*) FROM handovers") == 0
    assert await db.fetchval("SELECT action FROM audit_log") == "escalation_without_desk"
    again = await processor.process(conv, [incoming("сколько стоит маникюр?", provider_message_id="n2")])
    assert again.act == "answer"
    # nor does the bot offer a person it cannot reach: the texts' forms without the offer
    assert again.reply == CUSTOMER_TEXTS["ru"]["no_answer_no_desk"]
    bot = await processor.process(conv, [incoming("вы бот?", provider_message_id="n3")])
    assert bot.reply == CUSTOMER_TEXTS["ru"]["bot_identity_no_desk"].format(client_name=demo.name)
    photo = await processor.process(conv, [incoming("", "image", {"url": "https://x/y.jpg"},
                                                    provider_message_id="n4")])
    assert photo.reply == CUSTOMER_TEXTS["ru"]["media_received_no_desk"]


async def test_a_muted_customer_asking_for_a_person_reaches_one(turn, db) -> None:
    conv, muted = await turn("стоп")
    assert muted.act == "mute"
    _, silent = await turn("сколько стоит?", conv)
    assert silent.act == "silent"
    _, escalated = await turn("позовите менеджера", conv)
    assert escalated.act == "escalate" and escalated.state == "pending"
    assert await db.fetchval("SELECT bot_muted_until FROM conversations WHERE id = $1", conv) is None


async def test_a_muted_conversation_with_a_topic_is_still_mirrored(turn, db) -> None:
    conv, _ = await turn("стоп")
    await db.execute("UPDATE conversations SET telegram_topic_id = 77, telegram_chat_id = -1001 WHERE id = $1", conv)
    _, silent = await turn("а всё-таки, сколько стоит?", conv)
    assert silent.act == "silent" and silent.reply is None
    mirror = await db.fetchval("SELECT payload FROM outbox WHERE kind = 'mirror'")
    assert mirror["lines"] == ["а всё-таки, сколько стоит?"]


async def test_opt_out_while_pending_cancels_the_handover(turn, db) -> None:
    conv, _ = await turn("позовите менеджера")
    _, outcome = await turn("не надо, спасибо", conv)
    assert outcome.act == "opt_out" and outcome.state == "bot_active"
    row = await db.fetchrow("SELECT status, resolution FROM handovers")
    assert (row["status"], row["resolution"]) == ("resolved", "customer_opt_out")


async def test_suspended_client_stores_but_does_not_answer(turn, db, demo) -> None:
    await clients.set_status(db, demo.id, "suspended")
    _conv, outcome = await turn("позовите менеджера")
    assert outcome.act == "silent" and outcome.reply is None
    assert await db.fetchval("SELECT count(*) FROM messages WHERE role = 'user'") == 1
    assert await db.fetchval("SELECT count(*) FROM outbox") == 0


def test_rule_layer_is_not_fooled_by_questions_about_managers() -> None:
    assert classify_by_rules("вы бот?") is None
    assert classify_by_rules("Привет! сколько стоит маникюр?") is None
    assert classify_by_rules("стоп, а сколько стоит педикюр с покрытием и дизайном?") is None


def test_policy_validation_rejects_bad_documents() -> None:
    with pytest.raises(ValueError, match="list of topics"):
        parse_policy({"name": "x"})
    with pytest.raises(ValueError, match="needs a name"):
        parse_policy([{"stems": ["x"]}])
    with pytest.raises(ValueError, match="at least one phrase, stem or example"):
        parse_policy([{"name": "empty"}])
    with pytest.raises(ValueError, match="twice"):
        parse_policy([{"name": "a", "stems": ["x"]}, {"name": "a", "stems": ["y"]}])
    assert match_policy(DEFAULT_POLICY, ["хочу", "перенести", "запись"]).topic.name == "booking_change"

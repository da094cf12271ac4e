"""The LLM path against a scripted fake OpenAI server answering the way real models do: each
intent, a policy topic, JSON in a code fence or inside prose, malformed JSON, an unknown label,
a refusal, a timeout. Every failure leaves the decision to the rules, with the reason logged.
The LLM is asked only when the semantic classifier is unsure (or absent)."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from ai.llm import OpenAIChat
from core.answers import Answerer
from core.calibration import DecisionThresholds
from core.decision import Act, Decider, Decision
from core.desk import Desk
from core.models import InboundMessage, Intent
from core.pipeline import TurnProcessor
from core.policy import DEFAULT_POLICY, PolicyTopic
from core.semantic import ExampleVectors, SemanticMatcher, SemanticVerdict
from gateway.decision_eval import _context, _NoPrompts
from gateway.knowledge_eval import scratch_knowledge
from storage.store import PgStore, PgTenants
from tests.decisions.conftest import WordsEmbedder
from tests.factories import incoming, make_conversation
from tests.fakes import FakeOpenAI

# Nothing in it for the rules, and no knowledge base (so no semantic layer): the LLM decides.
UNDECIDED = "слушайте, тут такое дело, не знаю с чего начать"
_ids = itertools.count()


@pytest.fixture
def llm(openai_fake: FakeOpenAI) -> OpenAIChat:
    return OpenAIChat(api_key="sk-test", base_url=str(openai_fake.server.make_url("/v1")),
                      model="gpt-4o-mini", timeout=1.5)


@pytest.mark.parametrize(("scripted", "expected"), [
    ({"intent": "human_request", "topic": None}, (Intent.HUMAN_REQUEST, None)),
    ({"intent": "frustration", "topic": None}, (Intent.FRUSTRATION, None)),
    ({"intent": "rejection", "topic": None}, (Intent.REJECTION, None)),
    ({"intent": "greeting", "topic": None}, (Intent.GREETING, None)),
    ({"intent": "thanks", "topic": None}, (Intent.THANKS, None)),
    ({"intent": "question", "topic": None}, (Intent.QUESTION, None)),
    ({"intent": "other", "topic": None}, (Intent.OTHER, None)),
    ({"intent": "question", "topic": "payment"}, (Intent.QUESTION, "payment")),
    ('```json\n{"intent": "question", "topic": "medical"}\n```', (Intent.QUESTION, "medical")),
    ('Sure! The answer is {"intent": "frustration", "topic": "complaint"}. Hope this helps.',
     (Intent.FRUSTRATION, "complaint")),
    ('{"intent": "question", "topic": "null"}', (Intent.QUESTION, None)),
])
async def test_answers_a_model_might_give_are_read(llm, openai_fake, scripted, expected) -> None:
    openai_fake.classification = scripted
    result = await llm.classify("текст", DEFAULT_POLICY)
    assert result.ok and result.value == expected


@pytest.mark.parametrize(("scripted", "reason"), [
    ('{"intent": "question", "topic": ', "no JSON object"),
    ("{intent: question, topic: none}", "malformed JSON"),
    ({"intent": "angry", "topic": None}, "unknown intent 'angry'"),
    ({"intent": "question", "topic": "weather"}, "unknown topic 'weather'"),
    ("I'm sorry, but I can't help with classifying this message.", "no JSON object"),
    (None, "the model refused"),
    ("", "empty completion"),
])
async def test_answers_that_cannot_be_trusted_are_failures_with_a_reason(llm, openai_fake, scripted,
                                                                          reason) -> None:
    openai_fake.classification = scripted
    result = await llm.classify("текст", DEFAULT_POLICY)
    assert not result.ok and result.error_code == "classify_error" and reason in result.error


async def test_a_slow_model_times_out(llm, openai_fake) -> None:
    openai_fake.classification_delay = 2.5
    result = await llm.classify("текст", DEFAULT_POLICY)
    assert not result.ok and "Timeout" in result.error
    openai_fake.classification_delay = 0.0


async def test_the_prompt_lists_the_topics_with_descriptions_and_examples(llm, openai_fake) -> None:
    await llm.classify("текст", DEFAULT_POLICY)
    system = openai_fake.requests[-1]["messages"][0]["content"]
    for topic in DEFAULT_POLICY:
        assert f"- {topic.name}: {topic.description}" in system
        assert f"«{topic.examples[0]}»" in system


@pytest.fixture
async def turn(db, desk_client, llm):
    store = PgStore(db)
    processor = TurnProcessor(store, PgTenants(db), Answerer(None, llm), llm, Desk(store))

    async def run(text: str):
        conv = await make_conversation(db, desk_client.id, f"7702{next(_ids):07d}@s.whatsapp.net")
        return await processor.process(conv, [incoming(text, provider_message_id=f"l{next(_ids)}")])
    return run


async def test_the_llm_names_a_topic_and_the_handover_says_so(turn, openai_fake, db) -> None:
    openai_fake.classification = {"intent": "question", "topic": "payment"}
    outcome = await turn(UNDECIDED)
    assert outcome.act == "escalate"
    row = await db.fetchrow("SELECT trigger_type, trigger_value, trigger_detail FROM handovers")
    assert (row["trigger_type"], row["trigger_value"]) == ("policy", "payment")
    assert row["trigger_detail"] == {"source": "llm"}


async def test_the_llm_finds_a_request_for_a_person(turn, openai_fake, db) -> None:
    openai_fake.classification = {"intent": "human_request", "topic": None}
    outcome = await turn(UNDECIDED)
    assert outcome.act == "escalate" and outcome.intent == Intent.HUMAN_REQUEST
    assert await db.fetchval("SELECT trigger_type FROM handovers") == "llm"


@pytest.mark.parametrize("scripted", ["not json at all", {"intent": "escalate_now"}, None])
async def test_when_the_llm_fails_the_rules_decide_and_the_reason_is_logged(turn, openai_fake, db,
                                                                            caplog, scripted) -> None:
    openai_fake.classification = scripted
    with caplog.at_level(logging.WARNING, logger="core.classifier"):
        outcome = await turn(UNDECIDED)
    assert outcome.act == "answer" and outcome.state == "bot_active"
    failed = [r for r in caplog.records if r.getMessage() == "llm classification failed; the rules decide"]
    assert failed and failed[0].error_code == "classify_error" and failed[0].reason
    # The rules still decide what they are sure of, with the model failing.
    kaspi = await turn("Kaspi Red есть у вас?")
    assert kaspi.act == "escalate"
    assert await db.fetchval("SELECT trigger_detail FROM handovers") == {"source": "rules",
                                                                          "matched": "kaspi"}


OPENING_HOURS = "во сколько вы открываетесь завтра?"  # nothing for the rules
CALIBRATED = DecisionThresholds(0.8, 0.15, clear=0.035)


class _Reading(SemanticMatcher):
    """The semantic classifier, ready at once, reading `escalation` and `rejection` in any turn."""

    def __init__(self, escalation: float, rejection: float = 0.0,
                 thresholds: DecisionThresholds = CALIBRATED) -> None:
        super().__init__(WordsEmbedder(), ExampleVectors(), thresholds)
        self._scripted = SemanticVerdict(None, None, escalation, rejection)

    async def ready(self, topics: Sequence[PolicyTopic]) -> bool:
        return True

    async def verdict(self, text: str, vector: Sequence[float], topics: Sequence[PolicyTopic],
                      excluded: frozenset[str] = frozenset()) -> SemanticVerdict:
        return self._scripted


@pytest.fixture
async def decide(llm):
    """The Decider with the LLM (classifier and answers) and an empty knowledge base."""
    async with scratch_knowledge(WordsEmbedder()) as kb:
        async def run(semantic: SemanticMatcher | None) -> Decision:
            decider = Decider(_NoPrompts(), Answerer(kb, llm), llm, semantic)  # type: ignore[arg-type]
            return await decider.decide(_context(datetime.now(UTC)),
                                        [InboundMessage(f"d{next(_ids)}", "customer", OPENING_HOURS)])
        yield run


def _classify_requests(openai_fake: FakeOpenAI) -> int:
    return len(openai_fake.requests) - len(openai_fake.answer_requests())


async def test_a_clear_question_is_answered_without_asking_the_llm(decide, openai_fake) -> None:
    openai_fake.classification = {"intent": "question", "topic": "payment"}  # were it asked
    decision = await decide(_Reading(0.01))
    assert decision.act == Act.ANSWER
    assert _classify_requests(openai_fake) == 0 and len(openai_fake.answer_requests()) == 1


@pytest.mark.parametrize(("escalation", "rejection"), [(0.035, 0.0), (0.3, 0.0), (0.02, 0.02)])
async def test_an_unsure_turn_still_asks_the_llm(decide, openai_fake, escalation: float,
                                                 rejection: float) -> None:
    decision = await decide(_Reading(escalation, rejection))
    assert decision.act == Act.ANSWER
    assert _classify_requests(openai_fake) == 1


async def test_the_llms_escalation_in_the_unsure_band_escalates(decide, openai_fake) -> None:
    openai_fake.classification = {"intent": "question", "topic": "payment"}
    decision = await decide(_Reading(0.3))
    assert decision.act == Act.ESCALATE and decision.trigger_value == "payment"
    assert decision.detail == {"source": "llm"} and _classify_requests(openai_fake) == 1


@pytest.mark.parametrize("semantic", [None, _Reading(0.01, thresholds=DecisionThresholds(0.8, 0.15))],
                         ids=["no semantic layer", "no calibrated clear"])
async def test_without_a_calibrated_semantic_layer_the_llm_is_asked_as_before(
        decide, openai_fake, semantic: SemanticMatcher | None) -> None:
    openai_fake.classification = {"intent": "human_request", "topic": None}
    decision = await decide(semantic)
    assert decision.act == Act.ESCALATE and decision.intent == Intent.HUMAN_REQUEST
    assert _classify_requests(openai_fake) == 1


class _Timed:
    """The LLM classifier, noting when its answer came back."""

    def __init__(self, llm: OpenAIChat) -> None:
        self._llm = llm
        self.answered_at: float | None = None

    async def classify(self, text: str, topics: Sequence[PolicyTopic]):
        result = await self._llm.classify(text, topics)
        self.answered_at = time.monotonic()
        return result


class _NotingEmbedder(WordsEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.started_at: list[float] = []

    async def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        self.started_at.append(time.monotonic())
        return await super().embed_queries(texts)


@pytest.mark.parametrize(("verdict", "act", "embedded"), [
    ({"intent": "question", "topic": None}, Act.ANSWER, True),
    ({"intent": "other", "topic": None}, Act.ANSWER, True),  # answered too
    ({"intent": "question", "topic": "payment"}, Act.ESCALATE, False),
])
async def test_the_turn_is_embedded_while_the_llm_classifies_it(llm, openai_fake, verdict, act,
                                                                embedded: bool) -> None:
    """Without a semantic layer the search's embedding starts with the classification call, not
    after it; the answer stage reuses it (one embedding a turn), and a turn handed to a person
    leaves it unused."""
    openai_fake.classification = verdict
    openai_fake.classification_delay = 0.3
    embedder, classifier = _NotingEmbedder(), _Timed(llm)
    async with scratch_knowledge(embedder) as kb:
        decider = Decider(_NoPrompts(), Answerer(kb, llm), classifier, None)  # type: ignore[arg-type]
        decision = await decider.decide(_context(datetime.now(UTC)),
                                        [InboundMessage(f"d{next(_ids)}", "customer", OPENING_HOURS)])
    assert decision.act == act
    assert classifier.answered_at is not None and embedder.started_at
    assert embedder.started_at[0] < classifier.answered_at  # began before the verdict came
    assert len(embedder.started_at) == 1  # embedded once: the answer stage took that vector
    assert len(openai_fake.answer_requests()) == (1 if embedded else 0)

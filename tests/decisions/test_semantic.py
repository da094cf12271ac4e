"""The semantic layer's machinery: example vectors computed once per (examples, embedder) and
recomputed when either changes; the classifier and the example it names; the rule stage's
guards; a rule's topic overruled when the message reads as a question."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from core.calibration import DecisionThresholds, thresholds_for
from core.classifier import by_rules, by_similarity
from core.linear_classifier import LinearClassifier
from core.models import Intent
from core.once_cache import OnceCache, by_identity
from core.policy import DEFAULT_POLICY, effective_policy, parse_policy
from core.semantic import ExampleVectors, SemanticMatcher, SemanticVerdict, intent_examples
from tests.decisions.conftest import WordsEmbedder

TOPICS = parse_policy([
    {"name": "delivery", "description": "доставка", "examples": ["где мой курьер с заказом"]},
    {"name": "refunds", "stems": ["возврат"], "examples": ["верните мои деньги за заказ"]},
])


async def test_example_vectors_are_computed_once_per_policy_and_embedder() -> None:
    embedder, vectors = WordsEmbedder(), ExampleVectors()
    matcher = SemanticMatcher(embedder, vectors, DecisionThresholds(0.5, 0.0))
    await matcher.prepare(TOPICS)
    assert vectors.computed == 2  # the intents' examples and the policy's
    await _verdict(matcher, embedder, "где курьер", TOPICS)
    await asyncio.gather(*(matcher.prepare(TOPICS) for _ in range(5)))
    assert vectors.computed == 2

    edited = parse_policy([*[t.as_dict() for t in TOPICS][:1],
                           {"name": "refunds", "examples": ["хочу вернуть деньги"]}])
    await matcher.prepare(edited)
    assert vectors.computed == 3  # only the edited policy's examples

    other = SemanticMatcher(WordsEmbedder("words-64-v2"), vectors, DecisionThresholds(0.5, 0.0))
    await other.prepare(TOPICS)
    assert vectors.computed == 5  # another embedder: both sets again


async def test_concurrent_turns_of_a_new_policy_embed_its_examples_once() -> None:
    embedder, vectors = WordsEmbedder(), ExampleVectors()
    matcher = SemanticMatcher(embedder, vectors, DecisionThresholds(0.5, 0.0))
    await asyncio.gather(*(matcher.prepare(TOPICS) for _ in range(10)))
    assert vectors.computed == 2
    embedded = sum(len(call) for call in embedder.calls)
    assert embedded == len(intent_examples()) + sum(len(t.examples) for t in TOPICS)


async def test_matchers_sharing_example_vectors_fit_each_classifier_once(monkeypatch) -> None:
    """Every system a process builds (hundreds in a test run) shares one fit per policy: a fit
    is seconds of CPU in a thread that nothing can cancel."""
    fits = []
    fit = LinearClassifier.fit.__func__

    def counted(cls, *args):
        fits.append(args[0])
        return fit(cls, *args)

    monkeypatch.setattr(LinearClassifier, "fit", classmethod(counted))
    embedder, vectors = WordsEmbedder(), ExampleVectors()
    matchers = [SemanticMatcher(embedder, vectors, DecisionThresholds(0.5, 0.0)) for _ in range(3)]
    await asyncio.gather(*(matcher.prepare(TOPICS) for matcher in matchers))
    assert len(fits) == 1
    # a topic with no examples of its own changes which labels escalate: another classifier
    await matchers[1].prepare([*TOPICS, *parse_policy([{"name": "complaints", "stems": ["жалоб"]}])])
    assert len(fits) == 2


async def test_a_caller_on_another_event_loop_computes_rather_than_waits() -> None:
    """The shared cache is reached from a CLI's own loop too (a thread): it cannot await a
    computation pending on this one."""
    cache: OnceCache[str] = OnceCache(4)
    started, release = threading.Event(), threading.Event()

    async def slow() -> str:
        started.set()
        await asyncio.to_thread(release.wait, 10)
        return "this loop"

    async def quick() -> str:
        return "other loop"

    def on_another_loop() -> str:
        started.wait(10)
        try:
            return asyncio.run(cache.get("key", quick))
        finally:
            release.set()

    other = asyncio.create_task(asyncio.to_thread(on_another_loop))
    assert await cache.get("key", slow) == "this loop"
    assert await other == "other loop"


async def test_a_failed_computation_is_not_cached() -> None:
    class Failing(WordsEmbedder):
        fail = True

        async def embed_queries(self, texts):
            if self.fail:
                raise RuntimeError("embedder down")
            return await super().embed_queries(texts)

    embedder, vectors = Failing(), ExampleVectors()
    matcher = SemanticMatcher(embedder, vectors, DecisionThresholds(0.5, 0.0))
    with pytest.raises(RuntimeError):
        await matcher.prepare(TOPICS)
    embedder.fail = False
    await matcher.prepare(TOPICS)
    assert vectors.computed == 2


def test_a_value_cached_by_identity_is_computed_once_per_object() -> None:
    calls: list[list[int]] = []

    @by_identity(2)
    def total(numbers: list[int]) -> int:
        calls.append(numbers)
        return sum(numbers)

    first, equal, third = [1, 2], [1, 2], [5]
    assert (total(first), total(first), total(equal)) == (3, 3, 3)
    assert calls == [first, equal]  # an equal list is another object: computed again
    total(third)  # the least recently used, `first`, is dropped
    assert total(first) == 3 and len(calls) == 4


def test_a_clients_policy_is_parsed_once_while_its_settings_are_cached() -> None:
    configured = [topic.as_dict() for topic in TOPICS]
    parsed = effective_policy(configured)
    assert [t.name for t in parsed] == ["delivery", "refunds"]
    assert effective_policy(configured) is parsed
    reloaded = [dict(topic) for topic in configured]  # the settings read again after a change
    assert effective_policy(reloaded) is not parsed and effective_policy(reloaded) == parsed


async def test_the_classifier_decides_and_names_the_nearest_example() -> None:
    embedder = WordsEmbedder()
    matcher = SemanticMatcher(embedder, ExampleVectors(), DecisionThresholds(0.6, 0.05))
    stage = by_rules("где мой курьер", TOPICS)
    assert stage.decided is None
    text = "где мой курьер"
    found = (await by_similarity(matcher, text, embedder.vector(text), TOPICS, stage, matcher.thresholds)).found
    assert found is not None and found.topic == "delivery" and found.source == "semantic"
    assert found.matched == "где мой курьер с заказом" and 0.6 <= found.score <= 1.0
    # A stricter client (a positive offset) needs a surer classifier, also to keep a rule's topic.
    strict = matcher.thresholds.shifted(0.1)
    assert strict == DecisionThresholds(0.7, 0.15)
    assert matcher.thresholds.shifted(-1.0) == DecisionThresholds(0.0, 0.0)
    assert (await by_similarity(matcher, "курьер", embedder.vector("курьер"), TOPICS, by_rules("курьер", TOPICS),
                                strict)).found is None


async def test_a_topic_named_in_the_negative_is_not_matched_by_similarity() -> None:
    embedder = WordsEmbedder()
    matcher = SemanticMatcher(embedder, ExampleVectors(), DecisionThresholds(0.3, 0.0))
    text = "возврат не нужен, верните заказ"
    stage = by_rules(text, TOPICS)
    assert stage.decided is None and "refunds" in stage.excluded and stage.just_asking
    assert (await by_similarity(matcher, text, embedder.vector(text), TOPICS, stage,
                                matcher.thresholds)).found is None


def test_uncalibrated_embedders_get_no_thresholds() -> None:
    assert thresholds_for("local-e5-small-384") is not None
    assert thresholds_for("tei-bge-m3-1024") is None
    assert SemanticMatcher(WordsEmbedder()).thresholds is None


@pytest.mark.parametrize(("text", "topic"), [
    ("можно оплатить через Kaspi Red?", "payment"),
    ("каспийге скинула, проверьте", "payment"),
    ("хочу перенести запись на пятницу", "booking_change"),
    ("я беременна, можно шугаринг?", "medical"),
    ("подам в суд", "legal"),
    ("после маникюра покрытие облезло", "complaint"),
])
def test_rules_name_the_topic_and_the_word(text: str, topic: str) -> None:
    decided = by_rules(text, DEFAULT_POLICY).decided
    assert decided is not None and decided.topic == topic and decided.source == "rules"
    assert decided.matched


@pytest.mark.parametrize("text", [
    "менеджер не нужен, просто скажите цену", "рассрочка не нужна, сколько стоит маникюр?",
    "шағым емес, жай сұрақ: нешеге дейін ашықсыздар?", "no need for a manager, just the price",
    "сколько стоит массаж для беременных?", "пожалуйста", "спасибо большое, всё очень понравилось",
    "сколько стоит маникюр, пожалуйста?", "без претензий, просто спросить: гель-лак снимаете?",
])
def test_rules_do_not_escalate_negations_and_price_questions(text: str) -> None:
    stage = by_rules(text, DEFAULT_POLICY)
    assert stage.decided is None or stage.decided.intent in (Intent.THANKS, Intent.GREETING)


async def _verdict(matcher: SemanticMatcher, embedder: WordsEmbedder, text: str,
                   topics) -> SemanticVerdict:
    return await matcher.verdict(text, embedder.vector(text), topics)


class _Saying:
    """A matcher whose classifier says `escalation` (and `rejection`) for anything."""

    def __init__(self, escalation: float, label: str = "payment", rejection: float = 0.0) -> None:
        self._verdict = SemanticVerdict(label, "пример", escalation, rejection)

    async def verdict(self, text, vector, topics, excluded=frozenset()) -> SemanticVerdict:
        return self._verdict


@pytest.mark.parametrize(("escalation", "kept"), [(0.05, False), (0.14, False), (0.15, True), (0.9, True)])
async def test_a_rules_topic_stands_unless_the_classifier_reads_a_question(escalation: float,
                                                                         kept: bool) -> None:
    text = "Оплата за снятие старого покрытия отдельно или уже в цене?"
    stage = by_rules(text, DEFAULT_POLICY)
    assert stage.decided is not None and stage.decided.topic == "payment"
    found = (await by_similarity(_Saying(escalation), text, [0.0], DEFAULT_POLICY, stage,  # type: ignore[arg-type]
                                 DecisionThresholds(0.7, 0.15))).found
    assert (found == stage.decided) if kept else found is None


async def test_the_classifier_hears_a_request_to_stop() -> None:
    stage = by_rules("прошу больше не беспокоить меня", DEFAULT_POLICY)
    assert stage.decided is None
    muted = _Saying(0.1)
    muted._verdict = SemanticVerdict("payment", "пример", 0.1, 0.65)
    found = (await by_similarity(muted, "прошу больше не беспокоить меня", [0.0], DEFAULT_POLICY,  # type: ignore[arg-type]
                                 stage, DecisionThresholds(0.7, 0.15))).found
    assert found is not None and found.intent == Intent.REJECTION and found.source == "semantic"


OPENING_HOURS = "во сколько вы открываетесь завтра?"  # nothing for the rules
PRICE = "сколько стоит маникюр?"  # the rules: just asking
PAYMENT_WORD = "Оплата за снятие старого покрытия отдельно или уже в цене?"  # the rules: payment


@pytest.mark.parametrize(("text", "escalation", "rejection", "clear"), [
    (OPENING_HOURS, 0.01, 0.0, True),
    (OPENING_HOURS, 0.034, 0.0, True),
    (OPENING_HOURS, 0.035, 0.0, False),  # unsure: the LLM is asked
    (OPENING_HOURS, 0.3, 0.0, False),
    (OPENING_HOURS, 0.02, 0.02, False),  # a person and a request to stop count together
    (PRICE, 0.01, 0.0, True),  # read too, though similarity alone escalates nothing there
    (PRICE, 0.5, 0.0, False),
    (PAYMENT_WORD, 0.01, 0.0, True),  # a rule's topic overruled
    (PAYMENT_WORD, 0.1, 0.0, False),
])
async def test_the_llm_is_skipped_only_when_the_classifier_is_clear(text: str, escalation: float,
                                                                    rejection: float, clear: bool) -> None:
    stage = by_rules(text, DEFAULT_POLICY)
    matcher = _Saying(escalation, rejection=rejection)
    reading = await by_similarity(matcher, text, [0.0], DEFAULT_POLICY, stage,  # type: ignore[arg-type]
                                  DecisionThresholds(0.8, 0.15, clear=0.035))
    assert reading.found is None and reading.clear is clear
    # Without a calibrated `clear` the LLM is asked whenever the classifier settles nothing.
    assert not (await by_similarity(matcher, text, [0.0], DEFAULT_POLICY, stage,  # type: ignore[arg-type]
                                    DecisionThresholds(0.8, 0.15))).clear


class _Counting(_Saying):
    def __init__(self, escalation: float) -> None:
        super().__init__(escalation)
        self.read = 0

    async def verdict(self, text, vector, topics, excluded=frozenset()) -> SemanticVerdict:
        self.read += 1
        return await super().verdict(text, vector, topics, excluded)


async def test_a_just_asking_turn_is_read_only_when_an_llm_would_be_asked_next() -> None:
    stage = by_rules(PRICE, DEFAULT_POLICY)
    assert stage.just_asking
    matcher = _Counting(0.01)
    thresholds = DecisionThresholds(0.8, 0.15, clear=0.035)
    alone = await by_similarity(matcher, PRICE, [0.0], DEFAULT_POLICY, stage,  # type: ignore[arg-type]
                                thresholds, llm_follows=False)
    assert alone.found is None and not alone.clear and matcher.read == 0
    assert (await by_similarity(matcher, PRICE, [0.0], DEFAULT_POLICY, stage,  # type: ignore[arg-type]
                                thresholds)).clear and matcher.read == 1


async def test_a_settled_turn_is_never_clear() -> None:
    reading = await by_similarity(_Saying(0.01, rejection=0.0), PAYMENT_WORD, [0.0], DEFAULT_POLICY,  # type: ignore[arg-type]
                                  by_rules(PAYMENT_WORD, DEFAULT_POLICY), DecisionThresholds(0.8, 0.0, clear=0.5))
    assert reading.found is not None and reading.found.topic == "payment" and not reading.clear


def test_a_clients_sensitivity_moves_clear_with_the_other_thresholds() -> None:
    calibrated = DecisionThresholds(0.8, 0.15, clear=0.035)
    assert calibrated.shifted(0.1) == DecisionThresholds(0.9, 0.25, clear=0.135)  # the LLM asked less
    assert calibrated.shifted(-0.1).clear == 0.0  # asked about everything the classifier leaves
    assert DecisionThresholds(0.8, 0.15).shifted(0.1).clear is None
    assert thresholds_for("local-e5-small-384").clear is not None


async def test_a_topic_with_one_example_is_heard_among_hundreds_of_others() -> None:
    """A client's own topic weighs as if it had MIN_LABEL_WEIGHT examples."""
    embedder = WordsEmbedder()
    policy = parse_policy([{"name": "catering", "examples": ["выездное обслуживание на свадьбу"]}])
    matcher = SemanticMatcher(embedder, ExampleVectors(), DecisionThresholds(0.7, 0.15))
    near = await _verdict(matcher, embedder, "нужно выездное обслуживание на свадьбу", policy)
    far = await _verdict(matcher, embedder, "во сколько вы открываетесь завтра", policy)
    assert near.label == "catering" and near.escalation > 0.9
    assert near.example == "выездное обслуживание на свадьбу"
    assert far.escalation < 0.1


def test_a_linear_classifier_separates_what_it_was_fitted_to() -> None:
    rng = np.random.default_rng(1)
    centres = {"a": rng.normal(size=16), "b": rng.normal(size=16)}
    labels = ["a"] * 40 + ["b"] * 40
    matrix = np.array([centres[x] + 0.3 * rng.normal(size=16) for x in labels], dtype=np.float32)
    classifier = LinearClassifier.fit(labels, matrix, [""] * len(labels))
    assert classifier.labels == ("a", "b")
    assert classifier.probabilities(centres["a"].astype(np.float32), "")["a"] > 0.95
    assert classifier.probabilities(centres["b"].astype(np.float32), "")["b"] > 0.95


async def test_a_corpus_teaches_the_classifier_only_the_labels_the_policy_has() -> None:
    embedder = WordsEmbedder()
    corpus = [("delivery", "курьер опять опоздал с заказом"), ("question", "курьер работает ночью?")]
    policy = parse_policy([{"name": "refunds", "examples": ["верните мои деньги"]}])
    matcher = SemanticMatcher(embedder, ExampleVectors(), DecisionThresholds(0.7, 0.15), corpus)
    verdict = await _verdict(matcher, embedder, "курьер опять опоздал с заказом", policy)
    assert verdict.label != "delivery" and verdict.escalation < 0.5  # not a label of this policy
    with_delivery = parse_policy([*[t.as_dict() for t in policy],
                                  {"name": "delivery", "examples": ["где курьер"]}])
    verdict = await _verdict(matcher, embedder, "курьер опять опоздал с заказом", with_delivery)
    assert verdict.label == "delivery" and verdict.escalation > 0.7


@pytest.mark.parametrize(("text", "intent"), [
    ("Девушка-администратор очень вежливая, спасибо ей", Intent.HUMAN_REQUEST),
    ("хаха, третий раз за неделю пишу вам, скоро буду как родная", Intent.FRUSTRATION),
])
async def test_a_rules_request_for_a_person_is_checked_too(text: str, intent: Intent) -> None:
    stage = by_rules(text, DEFAULT_POLICY)
    assert stage.escalates and stage.decided is not None and stage.decided.intent == intent
    thresholds = DecisionThresholds(0.8, 0.15)
    assert (await by_similarity(_Saying(0.05), text, [0.0], DEFAULT_POLICY, stage,  # type: ignore[arg-type]
                                thresholds)).found is None
    assert (await by_similarity(_Saying(0.5), text, [0.0], DEFAULT_POLICY, stage,  # type: ignore[arg-type]
                                thresholds)).found == stage.decided


def test_greetings_thanks_and_requests_to_stop_are_the_rules_alone() -> None:
    for text in ("привет", "спасибо", "не пишите мне больше"):
        stage = by_rules(text, DEFAULT_POLICY)
        assert stage.decided is not None and not stage.escalates


async def test_a_classifier_still_being_prepared_does_not_hold_a_turn(monkeypatch) -> None:
    """The rules decide meanwhile; the preparation goes on and is there for a later turn."""
    class Slow(WordsEmbedder):
        async def embed_queries(self, texts):
            await asyncio.sleep(0.2)
            return await super().embed_queries(texts)

    monkeypatch.setattr("core.semantic.READY_WAIT", 0.05)
    matcher = SemanticMatcher(Slow(), ExampleVectors(), DecisionThresholds(0.7, 0.15))
    assert await matcher.ready(TOPICS) is False
    for _ in range(400):  # up to 20 s
        if await matcher.ready(TOPICS):
            break
    assert await matcher.ready(TOPICS) is True


async def test_an_embedder_that_is_down_leaves_the_decision_to_the_rules() -> None:
    class Down(WordsEmbedder):
        async def embed_queries(self, texts):
            raise RuntimeError("embedder down")

    assert await SemanticMatcher(Down(), ExampleVectors(), DecisionThresholds(0.7, 0.15)).ready(TOPICS) is False

"""Query normalisation (transliteration, tenge amounts, synonyms learnt from headings or given by
the client) and the optional re-ranking stage (a TEI cross-encoder, an LLM) against fakes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web

from ai.embeddings import LocalE5Embedder
from ai.llm import OpenAIChat
from ai.rerank import LLMReranker, TeiReranker
from core.answers import Answerer
from core.fusion import CLOSE_CALL, fuse, name_coverage, settle_close_call
from core.knowledge import KnowledgeBase
from core.knowledge_types import SearchHit
from core.lexical import char_ngrams
from core.ports import AnswerRequest
from core.query_text import (
    cyrillize,
    looks_transliterated,
    normalize_query,
    shares_a_word,
    spell_amounts,
    spell_durations,
    strip_kazakh_endings,
)
from core.result import Result
from core.synonyms import Lexicon, learn_aliases
from gateway import tenant_admin
from storage.repositories import clients
from storage.vectors import EdgeVectorStore
from tests.factories import make_client
from tests.fakes import FakeOpenAI


def test_russian_in_latin_letters_is_read_in_cyrillic_and_english_is_left_alone() -> None:
    assert looks_transliterated("skolko stoit manikur s pokrytiem")
    assert cyrillize("skolko stoit manikur") == "сколко стоит маникур"
    assert cyrillize("dostavka v talgar zavtra utrom") == "доставка в талгар завтра утром"
    assert not looks_transliterated("how much is a pedicure for a man?")
    assert not looks_transliterated("маникюр skolko")  # mixed scripts: nothing to undo
    assert normalize_query("kak doekhat do filiala").dense == "как доехат до филиала"


def test_tenge_amounts_are_spelled_one_way() -> None:
    assert spell_amounts("сертификат на 50к") == "сертификат на 50000"
    assert spell_amounts("от 1,5 тыс до 30 тыс.") == "от 1500 до 30000"
    assert spell_amounts("букет за 12 000 ₸") == "букет за 12000 ₸"
    assert spell_amounts("5 шт по 10k") == "5 шт по 10000"


def test_a_term_said_in_words_is_searched_as_its_months_too() -> None:
    """Price tables name a membership or a storage term by its months («12 месяцев»)."""
    assert spell_durations("годовой дневной скоко") == "годовой дневной скоко 12 месяцев"
    assert spell_durations("полгода безлимит") == "полгода безлимит 6 месяцев"
    assert spell_durations("annual membership price") == "annual membership price 12 месяцев"
    assert spell_durations("жылдық абонемент қанша") == "жылдық абонемент қанша 12 месяцев"
    assert spell_durations("хранение шин на квартал") == "хранение шин на квартал 3 месяца"
    for untouched in ("в 2026 году до скольки", "годовщина свадьбы, есть зал?",
                      "my 5 year old son"):
        assert spell_durations(untouched) == untouched
    query = normalize_query("Годовой безлим в оба зала")
    assert query.dense == "Годовой безлим в оба зала"  # the model reads the question as written
    assert query.lexical.endswith("12 месяцев")


def test_kazakh_endings_come_off_before_a_word_is_looked_for() -> None:
    assert [strip_kazakh_endings(w) for w in ("мегадағы", "зейнеткерлерге", "филиалдың",
                                              "дүкеннің", "цена", "маникюр")] == [
        "мега", "зейнеткер", "филиал", "дүкен", "цена", "маникюр"]
    assert shares_a_word("Шымкенттегі дүкеннің алдында", "Магазин в Шымкенте: адрес")
    assert not shares_a_word("көлік қоятын орын", "Магазин в Шымкенте: адрес")


def test_the_lexical_query_drops_question_words_and_adds_synonyms() -> None:
    lexicon = Lexicon([("узи", "удз", "ultrasound"), ("талдау", "анализ")])
    query = normalize_query("сколько стоит УДЗ и талдаулар у вас?", lexicon)
    assert query.dense == "сколько стоит УДЗ и талдаулар у вас?"
    words = query.lexical.split()
    assert {"удз", "талдаулар", "узи", "ultrasound", "анализ"} <= set(words)
    assert not {"сколько", "стоит", "у", "вас"} & set(words)
    # the forms of "how many" and "which" match FAQ titles («До скольки работает …?»), not facts
    assert normalize_query("до скольки и с какого числа работает узи").lexical == \
        "числа работает узи"


def test_the_built_in_groups_read_english_months_and_service_words_in_russian() -> None:
    lexicon = Lexicon.for_client()
    assert {"тюльпаны", "января"} <= set(lexicon.expansions("101 tulips on january 2"))
    # "how long" and "may I" are not the hair length and the month
    assert not {"длинные", "май"} & set(lexicon.expansions("how long may I wait"))


def test_the_line_whose_name_the_question_names_wins_a_close_call() -> None:
    heading = "Брови, ресницы и макияж > Выезд визажиста и парикмахера"
    early = SearchHit(id="early", score=0.872, lexical=4.0, payload={
        "content": f"{heading}\nРанний выезд визажиста — дополнительно + 5 000 ₸"})
    evening = SearchHit(id="evening", score=0.870, lexical=4.0, payload={
        "content": "Брови, ресницы и макияж > Макияж: цены\n"
                   "Вечерний макияж — Мастер: 14 400 ₸; Топ-мастер: 18 900 ₸"})
    question = "вечерний макияж у топ визажиста сколько стоит"
    lexical = normalize_query(question).lexical
    assert name_coverage(set(char_ngrams(lexical)), "Вечерний макияж — Мастер: 14 400 ₸") == 1.0
    plain = replace(LocalE5Embedder.thresholds, name_weight=0.0)
    assert fuse([early, evening], question, lexical, plain)[0].id == "early"
    ranked = fuse([early, evening], question, lexical, LocalE5Embedder.thresholds)
    assert [h.id for h in ranked] == ["evening", "early"]
    assert ranked[0].fused is not None and ranked[1].fused is not None
    assert ranked[0].fused > ranked[1].fused > ranked[1].score  # the bonuses add to the cosine


def test_a_close_call_between_sections_goes_to_the_section_whose_title_the_question_names(
) -> None:
    def hit(name: str, title: str, line: str, fused: float, source: str = "document"
            ) -> SearchHit:
        content = f"Клиника > {title}\n{line}"
        return SearchHit(id=name, score=0.88, fused=fused, payload={
            "content": content, "section": f"{content}\nещё строка",
            "metadata": {"source": source}})

    faq = hit("faq", "До скольки работает стоматология?", "В субботу до 20:00", 1.000)
    ultrasound = hit("узи", "Часы работы УЗИ", "Суббота: 9:00–15:00", 1.000 - CLOSE_CALL / 2)
    lexical = normalize_query("узи в субботу до скольки").lexical
    assert [h.id for h in settle_close_call([faq, ultrasound], lexical)] == ["узи", "faq"]
    # beyond the close call, or for a learned answer, the fused order stands
    far = replace(ultrasound, fused=1.0 - 2 * CLOSE_CALL)
    assert [h.id for h in settle_close_call([faq, far], lexical)] == ["faq", "узи"]
    learned = hit("learned", "Вопрос", "Ответ", 1.0, source="learned")
    assert settle_close_call([learned, ultrasound], lexical)[0].id == "learned"
    # two lines of one section: the line order is the fusion's
    same = replace(ultrasound, payload={**ultrasound.payload, "section": faq.payload["section"]})
    assert settle_close_call([faq, same], lexical)[0].id == "faq"


@pytest.mark.parametrize(("question", "first"), [
    ("до скольки работает клиника в субботу?", "russian"),
    ("what time do you close on saturday?", "russian"),
    ("клиника сенбіде сағат нешеге дейін жұмыс істейді?", "kazakh"),
])
def test_a_kazakh_copy_of_a_line_ranks_after_the_russian_one_unless_the_question_is_kazakh(
        question: str, first: str) -> None:
    kazakh = SearchHit(id="kazakh", score=0.871, lexical=3.0, payload={
        "content": "Жиі қойылатын сұрақтар > Клиника сағат нешеге дейін жұмыс істейді?\n"
                   "Сенбі күні клиника 8:00–18:00 аралығында жұмыс істейді."})
    russian = SearchHit(id="russian", score=0.860, lexical=3.0, payload={
        "content": "Частые вопросы > До скольки работает клиника?\n"
                   "В субботу клиника работает с 8:00 до 18:00."})
    weights = replace(LocalE5Embedder.thresholds, lexical_weight=0.0, coverage_weight=0.0,
                      kind_weight=0.0, name_weight=0.0)
    assert weights.language_weight > 0
    assert fuse([kazakh, russian], question, question, weights)[0].id == first
    # without the language weight the better cosine wins whatever the question's language
    plain = replace(weights, language_weight=0.0)
    assert fuse([kazakh, russian], question, question, plain)[0].id == "kazakh"


def test_a_dense_only_candidate_counts_as_the_lowest_lexical_score_when_the_branch_was_full(
) -> None:
    def hit(name: str, score: float, lexical: float) -> SearchHit:
        return SearchHit(id=name, score=score, lexical=lexical, payload={"content": name})

    lexical_ones = [hit(f"lexical {i}", 0.80, 10.0 - i) for i in range(3)]
    dense_only = hit("dense only", 0.86, 0.0)
    weights = replace(LocalE5Embedder.thresholds, lexical_weight=0.08, coverage_weight=0.0,
                      kind_weight=0.0, name_weight=0.0)
    full = fuse([*lexical_ones, dense_only], "вопрос", "вопрос", weights, lexical_limit=3)
    assert full[0].id == "dense only" and full[0].lexical == 8.0
    cut_short = fuse([*lexical_ones, dense_only], "вопрос", "вопрос", weights, lexical_limit=4)
    assert cut_short[0].id == "lexical 0" and cut_short[-1].lexical == 0.0


def test_name_pairs_are_learnt_from_headings_and_row_names() -> None:
    pairs = learn_aliases([
        "### Педиатрлар (балалар дәрігерлері)",
        "Пригород: Боралдай (Бурундай)",
        "Наращивание гелем, длина 1–2 (короткие)",  # a qualifier with digits around: kept short
        "Маникюр (обрезной) без покрытия и с очень длинным уточнением в скобках (1 раз)",
    ])
    assert ("педиатрлар", "балалар дәрігерлері") in pairs
    assert ("боралдай", "бурундай") in pairs
    assert all("1 раз" not in other for _, other in pairs)


CLINIC = """# Клиника
## Талдаулар (анализы): бағасы
Жалпы қан талдауы — 2 100 ₸.
## Часы работы
Ежедневно с 8:00 до 20:00.
## Адрес
Проспект Туран, 34.
"""


@pytest.fixture
async def kb(tmp_path: Path, e5: LocalE5Embedder) -> KnowledgeBase:
    store = EdgeVectorStore(tmp_path, "normalisation")
    await store.ensure_collection(e5.dim)
    return KnowledgeBase(e5, store)


async def test_ingestion_learns_synonyms_from_headings_for_the_client_only(
    kb: KnowledgeBase,
) -> None:
    await kb.ingest_document("clinic", "prices", CLINIC)
    groups = (await kb.lexicon("clinic")).groups
    assert ("талдаулар", "анализы") in groups
    assert ("талдаулар", "анализы") not in (await kb.lexicon("salon")).groups
    extra = (await kb.lexicon("clinic")).expansions("талдаулар қанша")
    assert "анализы" in extra
    # a client's own groups come on top of what ingestion learnt
    mine = await kb.lexicon("clinic", [("гемоглобин", "қан")])
    assert ("гемоглобин", "қан") in mine.groups and ("талдаулар", "анализы") in mine.groups
    await kb.store.aclose()


def hit(n: int, text: str) -> SearchHit:
    return SearchHit(id=str(n), score=0.8, payload={"content": text})


HITS = [hit(0, "Часы работы\nС 8:00 до 20:00"), hit(1, "Адрес\nТуран, 34"),
        hit(2, "Цены\nАнализ крови — 2 100 ₸")]


async def test_a_tei_cross_encoder_reorders_and_a_failing_one_changes_nothing(
    aiohttp_server,
) -> None:
    seen: list[dict] = []

    async def rerank(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body)
        if body["query"] == "boom":
            return web.json_response({"error": "model crashed"}, status=500)
        scores = [0.1, 0.2, 0.9]
        return web.json_response([{"index": i, "score": s} for i, s in enumerate(scores)])

    app = web.Application()
    app.router.add_post("/rerank", rerank)
    server = await aiohttp_server(app, host="127.0.0.1")
    reranker = TeiReranker(str(server.make_url("")))
    ordered = await reranker.rerank("сколько стоит анализ крови?", HITS)
    unchanged = await reranker.rerank("boom", HITS)
    await reranker.aclose()
    assert [h.id for h in ordered] == ["2", "1", "0"]
    assert [h.id for h in unchanged] == ["0", "1", "2"]
    assert seen[0]["texts"] == [h.payload["content"] for h in HITS]


async def test_an_llm_reranker_takes_the_lines_the_model_names(aiohttp_server) -> None:
    fake = FakeOpenAI(reply="[3, 2]")
    server = await aiohttp_server(fake.app, host="127.0.0.1")
    chat = OpenAIChat(api_key="k", base_url=str(server.make_url("/v1")), model="m", timeout=5,
                      max_retries=0)
    reranker = LLMReranker(chat)
    ordered = await reranker.rerank("сколько стоит анализ крови?", HITS)
    fake.reply = "не знаю"
    unchanged = await reranker.rerank("сколько стоит анализ крови?", HITS)
    fake.fail_with = 500
    failed = await reranker.rerank("сколько стоит анализ крови?", HITS)
    await chat.aclose()
    assert [h.id for h in ordered] == ["2", "1", "0"]
    assert [h.id for h in unchanged] == ["0", "1", "2"]
    assert [h.id for h in failed] == ["0", "1", "2"]
    prompt = fake.requests[0]["messages"][0]["content"]
    assert "3. Цены Анализ крови — 2 100 ₸" in prompt


class AddressFirst:
    """A re-ranker that puts the address first and remembers what it was asked."""

    name = "address-first"

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def rerank(self, question: str, hits: Sequence[SearchHit]) -> list[SearchHit]:
        self.calls.append((question, len(hits)))
        return sorted(hits, key=lambda h: "Туран" not in str(h.payload["content"]))


async def test_the_knowledge_base_ranks_through_its_reranker(
    tmp_path: Path, e5: LocalE5Embedder,
) -> None:
    store = EdgeVectorStore(tmp_path, "rerank")
    await store.ensure_collection(e5.dim)
    plain = KnowledgeBase(e5, store)
    await plain.ingest_document("clinic", "clinic", CLINIC)
    question = "часы работы и адрес клиники"
    first = (await plain.search("clinic", question)).value or []
    reranker = AddressFirst()
    reranked = (await KnowledgeBase(e5, store, reranker=reranker).search("clinic", question)
                ).value or []
    await store.aclose()
    assert reranker.calls == [(question, 3)]
    assert "Туран" not in first[0].content
    assert "Туран" in reranked[0].content


class RecordingKnowledge:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    async def embed_query(self, text: str) -> list[float]:
        return [0.0]

    async def search(self, client_slug: str, query: str, **kwargs: object):
        self.calls.append({"client": client_slug, "query": query, **kwargs})
        return Result.success([])

    def best_answer(self, passages, question=None):
        return None


async def test_a_clients_own_synonyms_are_validated_stored_and_searched_with(db) -> None:
    await make_client(db, "clinic_c")
    await tenant_admin.update_client(
        db, "clinic_c", {"knowledge_synonyms": '[["флюшка", " флюорография "]]'}, actor="test")
    for bad in ([["одно"]], [["", "пусто"]], "флюшка", [["ok", 5]]):
        with pytest.raises(ValueError, match="knowledge_synonyms"):
            tenant_admin.typed_settings({"knowledge_synonyms": bad})
    client = await clients.by_slug(db, "clinic_c")
    assert client is not None
    assert client.settings.knowledge_synonyms == (("флюшка", "флюорография"),)
    knowledge = RecordingKnowledge()
    answer = await Answerer(knowledge, None).answer(AnswerRequest(
        client=client, system_prompt=None, question="флюшка сколько стоит", history=[],
        knowledge_tag=None))
    assert answer.source == "no_answer"
    assert knowledge.calls[0]["synonyms"] == (("флюшка", "флюорография"),)

"""KnowledgeBase over the local model and the embedded store."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai.embeddings import LocalE5Embedder
from core.knowledge import CANDIDATES, KnowledgeBase
from core.knowledge_types import Passage, RetrievalMode, SearchHit, SearchQuery
from core.part_search import PART_CANDIDATES
from gateway.demo import DEMO_KNOWLEDGE_DIR
from gateway.knowledge_eval import ingest_folder
from storage.vectors import EdgeVectorStore

PRICES_A = """# Цены
## Маникюр
Маникюр классический — 4 000 ₸ (салон Альфа).
## Адрес
Альфа: проспект Абая, 52.
"""
PRICES_B = """# Цены
## Маникюр
Маникюр классический — 6 500 ₸ (салон Бета).
## Адрес
Бета: улица Сатпаева, 90.
"""


async def contents(kb: KnowledgeBase, client: str, query: str, **kwargs: object) -> list[str]:
    result = await kb.search(client, query, **kwargs)  # type: ignore[arg-type]
    assert result.ok, result.error
    return [p.content for p in result.value or []]


async def test_tenants_with_overlapping_documents_never_see_each_other(kb: KnowledgeBase) -> None:
    await kb.ingest_document("alpha", "prices", PRICES_A)
    await kb.ingest_document("beta", "prices", PRICES_B)
    for mode in RetrievalMode:
        alpha = " ".join(await contents(kb, "alpha", "сколько стоит маникюр, адрес", mode=mode))
        beta = " ".join(await contents(kb, "beta", "сколько стоит маникюр, адрес", mode=mode))
        assert "Альфа" in alpha and "Бета" not in alpha
        assert "Бета" in beta and "Альфа" not in beta
    assert await contents(kb, "gamma", "маникюр") == []
    assert [d.doc_name for d in await kb.list_documents("alpha")] == ["prices"]
    assert await kb.delete_document("gamma", "prices") == 0
    assert await kb.store.count("beta") == 2


async def test_branch_tag_sees_its_own_and_shared_chunks_only(kb: KnowledgeBase) -> None:
    await kb.ingest_document("demo", "shared", "## Оплата\nПринимаем Kaspi QR.")
    await kb.ingest_document("demo", "center", "## Адрес\nФилиал Центр: Абая, 52.",
                             knowledge_tag="center")
    await kb.ingest_document("demo", "east", "## Адрес\nФилиал Восток: Сатпаева, 90.",
                             knowledge_tag="east")
    center = " ".join(await contents(kb, "demo", "адрес филиала и оплата", knowledge_tag="center"))
    assert "Центр" in center and "Kaspi" in center and "Восток" not in center
    everything = " ".join(await contents(kb, "demo", "адрес филиала и оплата"))
    assert "Центр" in everything and "Восток" in everything
    docs = {d.doc_name: d.knowledge_tag for d in await kb.list_documents("demo")}
    assert docs == {"center": "center", "east": "east", "shared": None}


async def test_reingest_is_idempotent_and_edits_replace_chunks(kb: KnowledgeBase) -> None:
    first = await kb.ingest_document("demo", "prices", PRICES_A)
    ids = await kb.store.point_ids("demo", "prices", "document")
    again = await kb.ingest_document("demo", "prices", PRICES_A)
    assert first.added == 2 and not again.changed
    assert await kb.store.point_ids("demo", "prices", "document") == ids
    assert await kb.store.count("demo") == 2

    edited = await kb.ingest_document("demo", "prices", PRICES_A.replace("4 000", "4 500"))
    assert (edited.added, edited.removed) == (1, 1)
    joined = " ".join(await contents(kb, "demo", "маникюр цена"))
    assert "4 500" in joined and "4 000" not in joined
    assert await kb.store.count("demo") == 2

    shorter = await kb.ingest_document("demo", "prices", "## Маникюр\nТолько маникюр — 4 500 ₸.")
    assert shorter.chunks == 1 and await kb.store.count("demo") == 1


async def test_learned_answers_survive_resync_and_delete(kb: KnowledgeBase) -> None:
    await kb.ingest_document("demo", "prices", PRICES_A)
    await kb.learn("demo", "Есть ли у вас парковка?", "Да, бесплатная парковка во дворе.")
    await kb.ingest_document("demo", "prices", PRICES_B)
    await kb.delete_document("demo", "prices")
    result = await kb.search("demo", "где поставить машину, есть парковка?")
    assert result.ok and result.value
    best = result.value[0]
    assert best.source == "learned" and "парковка во дворе" in best.content
    assert kb.best_answer(result.value) == "Да, бесплатная парковка во дворе."
    assert [(d.doc_name, d.source) for d in await kb.list_documents("demo")] == [
        ("learned", "learned")
    ]


async def test_learning_a_near_identical_question_replaces_the_old_answer(
    kb: KnowledgeBase,
) -> None:
    await kb.learn("demo", "Есть ли у вас парковка?", "Нет.")
    await kb.learn("demo", "есть ли у вас парковка", "Да, во дворе, 6 мест.")
    await kb.learn("demo", "Можно прийти с собакой?", "Только с маленькой.")
    assert await kb.store.count("demo") == 2
    joined = " ".join(await contents(kb, "demo", "парковка"))
    assert "6 мест" in joined and "Нет." not in joined
    await kb.learn("other", "Есть ли у вас парковка?", "Нет.")
    assert await kb.store.count("demo") == 2


async def test_embedded_store_persists_across_close_and_reopen(
    tmp_path: Path, e5: LocalE5Embedder
) -> None:
    store = EdgeVectorStore(tmp_path, "persist")
    await store.ensure_collection(e5.dim)
    await KnowledgeBase(e5, store).ingest_document("demo", "prices", PRICES_A)
    await store.aclose()

    reopened = EdgeVectorStore(tmp_path, "persist")
    await reopened.ensure_collection(e5.dim)
    kb = KnowledgeBase(e5, reopened)
    assert await reopened.count("demo") == 2
    assert "4 000" in " ".join(await contents(kb, "demo", "маникюр"))
    assert not (await kb.ingest_document("demo", "prices", PRICES_A)).changed
    await reopened.aclose()

    wrong_dim = EdgeVectorStore(tmp_path, "persist")
    with pytest.raises(Exception, match="1024-dim"):
        await wrong_dim.ensure_collection(1024)


async def test_store_failure_is_a_rag_error_not_an_exception(
    tmp_path: Path, e5: LocalE5Embedder
) -> None:
    kb = KnowledgeBase(e5, EdgeVectorStore(tmp_path, "never-opened"))
    result = await kb.search("demo", "маникюр")
    assert not result.ok and result.error_code == "rag_error"


async def test_no_llm_answers_the_key_demo_questions(kb: KnowledgeBase) -> None:
    await ingest_folder(kb, "demo_salon", DEMO_KNOWLEDGE_DIR)
    expected = {
        "сколько стоит маникюр?": "4 000 ₸",
        "где вы находитесь?": "проспект Абая, 52",
        "до скольки работаете?": "до 21:00",
    }
    for question, fact in expected.items():
        result = await kb.search("demo_salon", question)
        assert result.ok
        answer = kb.best_answer(result.value or [], question)
        assert answer is not None and fact in answer, (question, answer)
    for off_topic in ("расскажи анекдот", "купить iphone 15"):
        result = await kb.search("demo_salon", off_topic)
        assert kb.best_answer(result.value or [], off_topic) is None


def test_best_answer_is_the_line_of_the_best_passage(kb: KnowledgeBase) -> None:
    hours = Passage("Салон > Часы работы\nС 9:00 до 21:00.\nБез выходных.", "01", "document",
                    score=0.9, matched=("С 9:00 до 21:00.",))
    assert kb.best_answer([]) is None
    assert kb.best_answer([hours], "до скольки работаете?") == "Часы работы\nС 9:00 до 21:00."


SALON = """# Салон
## Маникюр: цены
Маникюр + гель-лак однотонный — 9 000 ₸.
Снятие гель-лака — 1 500 ₸.
## Педикюр: цены
Педикюр + гель-лак — 11 000 ₸.
## Гарантия на гель-лак
Гель-лак на руках держится 7 дней, скол — переделаем бесплатно.
## Часы работы
Будни: 9:00–21:00. Суббота: 10:00–19:00. Воскресенье: выходной.
## Парковка
Парковка во дворе бесплатная.
"""


async def test_each_part_of_a_question_asking_two_things_is_searched_too(
        kb: KnowledgeBase) -> None:
    await kb.ingest_document("salon", "salon", SALON)
    question = "сколько стоит гель-лак и до скольки работаете в субботу?"
    passages = (await kb.search("salon", question)).value or []
    whole, parts = passages[:5], passages[5:]
    assert all(p.part is None for p in whole)
    assert [p.content.split("\n")[0] for p in whole[:2]] == [
        "Салон > Педикюр: цены", "Салон > Маникюр: цены"]
    # the second part's own best section is not among the whole question's first two
    assert [(p.part, p.content.split("\n")[0]) for p in parts] == [
        ("до скольки работаете в субботу?", "Салон > Часы работы")]
    # parts whose best sections lead the whole question's passages add nothing
    covered = (await kb.search("salon", "маникюр сколько стоит, а парковка есть?")).value or []
    assert [p.part for p in covered] == [None] * 5
    # one part that asks (a greeting does not): no part is searched
    single = (await kb.search("salon", "Здравствуйте, сколько стоит гель-лак?")).value or []
    assert [p.part for p in single] == [None] * 5


class CountingEmbedder:
    """The bundled model, recording how many texts each query call embeds."""

    def __init__(self, model: LocalE5Embedder) -> None:
        self._model = model
        self.query_calls: list[int] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._model, name)

    async def embed_queries(self, texts: list[str]) -> list[list[float]]:
        self.query_calls.append(len(texts))
        return await self._model.embed_queries(texts)


async def test_a_message_of_many_questions_searches_three_parts_at_most(
        e5: LocalE5Embedder, store: EdgeVectorStore, monkeypatch: pytest.MonkeyPatch) -> None:
    counting = CountingEmbedder(e5)
    kb = KnowledgeBase(counting, store, thresholds=e5.thresholds)  # type: ignore[arg-type]
    await kb.ingest_document("salon", "salon", SALON)
    searched: list[int] = []
    search = store.search

    async def counted(query: SearchQuery) -> list[SearchHit]:
        searched.append(query.limit)
        return await search(query)

    monkeypatch.setattr(store, "search", counted)
    question = ("сколько стоит гель-лак? до скольки работаете в субботу? парковка есть? "
                "гарантия какая? педикюр почём?")
    passages = (await kb.search("salon", question)).value or []
    # one embedding, the whole question's: a part is searched with it and its own words
    assert counting.query_calls == [1]
    # the whole question, then three of its five parts, each wanting fewer candidates
    assert searched == [CANDIDATES] + [PART_CANDIDATES] * 3
    assert len(passages) <= 5 + 3
    # the turn's vector handed in (the decision layer embedded it): no embedding at all
    vector = await e5.embed_queries([question])
    again = (await kb.search("salon", question, query_vector=vector[0])).value or []
    assert counting.query_calls == [1] and again == passages

"""Learned answers (a manager's approved answer) rank first for their question and its
paraphrases, over a real knowledge base, and never reach another client or another branch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ai.embedding_cache import CachedEmbedder
from ai.embeddings import LocalE5Embedder
from core.knowledge import KnowledgeBase
from gateway.knowledge_eval import BASES_DIR, ingest_folder
from storage.repositories import clients
from storage.repositories.desk import PgDeskRecords
from storage.vectors import EdgeVectorStore
from tests.factories import make_client, make_conversation
from tests.knowledge.test_retrieval_eval import EVAL_VECTORS

DOG = "Можно прийти на маникюр со своей собакой?"
DOG_ANSWER = "Да, с маленькой собакой на руках можно, в «Шафран у Меги» есть миска с водой."
PARAPHRASES = ["можно с собакой прийти?", "с собачкой к вам можно на ноготочки?",
               "итпен келуге бола ма?"]


@pytest.fixture
async def salon(tmp_path: Path) -> AsyncIterator[KnowledgeBase]:
    store = EdgeVectorStore(tmp_path, "learned")
    embedder = CachedEmbedder(LocalE5Embedder(), EVAL_VECTORS)  # the salon's chunks are cached
    await store.ensure_collection(embedder.dim)
    kb = KnowledgeBase(embedder, store)
    await ingest_folder(kb, "salon", BASES_DIR / "salon_almaty")
    yield kb
    await store.aclose()


async def test_a_learned_answer_beats_the_documents_for_its_question_and_paraphrases(
    salon: KnowledgeBase,
) -> None:
    await salon.learn("salon", DOG, DOG_ANSWER)
    for question in [DOG, *PARAPHRASES]:
        passages = (await salon.search("salon", question)).value or []
        assert passages and passages[0].source == "learned", question
        assert salon.best_answer(passages, question) == DOG_ANSWER
    for other in ("сколько стоит маникюр с покрытием?", "где парковка у Меги?"):
        passages = (await salon.search("salon", other)).value or []
        assert passages and passages[0].source == "document", other
    # the question and its Russian paraphrases clear the learned threshold itself (the search's
    # mapped query scores a learned question ~0.04 lower than the model's own vector would)
    for question in [DOG, *PARAPHRASES[:2]]:
        hits, _ = await salon.candidates("salon", question)
        assert DOG in hits[0].payload["content"]
        assert hits[0].score >= salon.thresholds.learned, (question, hits[0].score)


async def test_learned_answers_stay_with_their_client_and_branch(salon: KnowledgeBase) -> None:
    await salon.learn("salon", DOG, DOG_ANSWER, knowledge_tag="mega")
    await salon.learn("other_salon", "Делаете ли вы татуаж бровей?", "Да, у нас есть татуаж.")

    def learned(passages: list) -> list[str]:
        return [p.content for p in passages if p.source == "learned"]

    mega = (await salon.search("salon", DOG, knowledge_tag="mega")).value or []
    assert mega[0].source == "learned" and mega[0].knowledge_tag == "mega"
    samal = (await salon.search("salon", DOG, knowledge_tag="samal")).value or []
    assert learned(samal) == []
    tattoo = (await salon.search("salon", "Делаете ли вы татуаж бровей?")).value or []
    assert all("татуаж" not in text for text in learned(tattoo))
    assert learned((await salon.search("third", DOG)).value or []) == []


async def test_the_desk_learns_for_the_branch_of_the_conversation(db) -> None:
    client = await make_client(db, "salon_b")
    branch = await clients.add_branch(db, client.id, "mega", "У Меги", knowledge_tag="mega")
    at_branch = await make_conversation(db, client.id, branch_id=branch.id)
    client_wide = await make_conversation(db, client.id, jid="77019998877@s.whatsapp.net")
    records = PgDeskRecords(db)
    assert await records.knowledge_tag(at_branch) == "mega"
    assert await records.knowledge_tag(client_wide) is None

"""`knowledge rebuild`: a fresh collection takes over only when complete (a serving gateway
follows the database's pointer), knowledge from before the archive is adopted or named, one
client is rebuilt in place; learned answers listed, shown and deleted (CLI and admin API)."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from core.knowledge import KnowledgeBase
from gateway.admin import create_admin_app
from gateway.keys import DB, KNOWLEDGE, SETTINGS, TENANTS
from gateway.knowledge_rebuild import (
    UnarchivedDocuments,
    follow_rebuilds,
    rebuild_all,
    rebuild_client,
)
from gateway.supervised import KnowledgeHandle, Supervised
from gateway.wiring import open_knowledge
from storage.repositories.knowledge_archive import PgKnowledgeArchive
from storage.store import PgTenants
from tests.conftest import ADMIN_TOKEN
from tests.factories import make_client
from tests.lifecycle.conftest import run_cli

PRICES = "## Маникюр\nМаникюр с покрытием — 6 000 ₸.\n## Педикюр\nПедикюр — 8 000 ₸."
HOURS = "## Часы работы\nРаботаем каждый день с 9:00 до 21:00."
DOG, DOG_ANSWER = "Можно прийти со своей собакой?", "Да, с маленькой собакой можно."
PARKING, PARKING_ANSWER = "Есть ли у вас парковка?", "Да, бесплатная парковка у входа."


def handle(kb: KnowledgeBase) -> KnowledgeHandle:
    async def never() -> KnowledgeBase:
        raise AssertionError("open already")
    supervised: Supervised[KnowledgeBase] = Supervised("knowledge base", never, KnowledgeBase.aclose)
    supervised.current = kb
    return KnowledgeHandle(supervised)


async def contents(kb: KnowledgeBase, question: str) -> list[str]:
    return [p.content for p in (await kb.search("salon", question)).value or []]


async def test_a_rebuild_takes_over_when_complete_and_the_replaced_collection_goes(
        db, settings, database_dsn) -> None:
    await make_client(db, "salon")
    kb = await open_knowledge(settings, pool=db)
    try:
        await kb.ingest_document("salon", "prices", PRICES)
        await kb.learn("salon", DOG, DOG_ANSWER)
        old = kb.store.collection
        before = [await contents(kb, q) for q in ("сколько стоит маникюр?", DOG)]
        assert all(before)
        follower = asyncio.create_task(follow_rebuilds(settings, db, database_dsn, handle(kb),
                                                       every=3600))
        await asyncio.sleep(0.5)  # listening
        result = await rebuild_all(settings, db, replaced_wait_seconds=20)
        # The serving knowledge base was told (NOTIFY), switched, and let go of the old one.
        assert kb.store.collection == result["collection"] != old
        assert result["replaced"] == old and result["replaced_deleted"] is True
        assert not (settings.data_dir / "vectors" / old).exists()
        assert result["documents"] == 1 and result["learned"] == 1 and result["points"] == 3
        assert [await contents(kb, q) for q in ("сколько стоит маникюр?", DOG)] == before
        follower.cancel()
        # Written after the switch: lands in the new collection, which is the one searched.
        await kb.ingest_document("salon", "hours", HOURS)
        assert "21:00" in (await contents(kb, "до скольки работаете?"))[0]
    finally:
        await kb.aclose()


async def test_knowledge_from_before_the_archive_is_adopted_or_named(db, settings) -> None:
    from ai.embeddings import LocalE5Embedder
    from storage.vectors import build_vector_store

    e5 = LocalE5Embedder()
    await make_client(db, "salon")
    store = build_vector_store(settings.vectors, e5)
    await store.ensure_collection(e5.dim)
    legacy = KnowledgeBase(e5, store)  # as before migration 0040: nothing archived
    await legacy.ingest_document("salon", "prices", PRICES)
    learned_id = await legacy.learn("salon", DOG, DOG_ANSWER, knowledge_tag="north")
    await legacy.aclose()

    with pytest.raises(UnarchivedDocuments, match="salon/prices"):
        await rebuild_all(settings, db)
    archive = PgKnowledgeArchive(db)
    adopted = await archive.learned("salon")
    assert [(a.id, a.question, a.answer, a.knowledge_tag) for a in adopted] == \
        [(learned_id, DOG, DOG_ANSWER, "north")]
    result = await rebuild_all(settings, db, force=True)
    assert result["left_out"] == ["salon/prices"] and result["learned"] == 1
    assert result["documents"] == 0 and result["points"] == 1


async def test_one_client_is_rebuilt_in_place_and_stray_points_go(db, settings) -> None:
    await make_client(db, "salon")
    await make_client(db, "spa")
    kb = await open_knowledge(settings, pool=db)
    try:
        await kb.ingest_document("salon", "prices", PRICES)
        await kb.ingest_document("salon", "hours", HOURS)
        await kb.ingest_document("spa", "hours", HOURS)
        await PgKnowledgeArchive(db).delete_document("salon", "hours")  # gone while away
        result = await rebuild_client(kb, "salon")
        assert (result["documents"], result["chunks"], result["removed"]) == (1, 2, 1)
        assert [d.doc_name for d in await kb.list_documents("salon")] == ["prices"]
        assert [d.doc_name for d in await kb.list_documents("spa")] == ["hours"]
    finally:
        await kb.aclose()


async def test_learned_answers_are_listed_shown_and_deleted_by_cli(
        db, settings, capsys: pytest.CaptureFixture[str]) -> None:
    await make_client(db, "salon")
    kb = await open_knowledge(settings, pool=db)
    try:
        dog = await kb.learn("salon", DOG, DOG_ANSWER, knowledge_tag="north")
        parking = await kb.learn("salon", PARKING, PARKING_ANSWER)
    finally:
        await kb.aclose()

    assert await run_cli(settings, "knowledge", "learned", "list", "--client", "salon",
                         "--json") == 0
    listed = json.loads(capsys.readouterr().out)["learned"]
    assert [(a["id"], a["knowledge_tag"]) for a in listed] == [(dog, "north"), (parking, None)]
    assert await run_cli(settings, "knowledge", "learned", "list", "--client", "salon",
                         "--tag", "north", "--json") == 0
    assert [a["id"] for a in json.loads(capsys.readouterr().out)["learned"]] == [dog]
    assert await run_cli(settings, "knowledge", "learned", "show", "--client", "salon", dog) == 0
    assert DOG_ANSWER in capsys.readouterr().out

    assert await run_cli(settings, "knowledge", "learned", "delete", "--client", "salon",
                         dog) == 0
    with pytest.raises(ValueError, match="has no learned answer"):
        await run_cli(settings, "knowledge", "learned", "delete", "--client", "salon", dog)
    kb = await open_knowledge(settings, pool=db)
    try:
        assert await kb.store.point_ids("salon", "learned", "learned") == {parking}
        assert [a.id for a in await PgKnowledgeArchive(db).learned("salon")] == [parking]
    finally:
        await kb.aclose()


async def test_learned_answers_over_the_admin_api(aiohttp_client, db, settings) -> None:
    await make_client(db, "salon")
    await make_client(db, "spa")
    kb = await open_knowledge(settings, pool=db)
    try:
        dog = await kb.learn("salon", DOG, DOG_ANSWER)
        spa = await kb.learn("spa", PARKING, PARKING_ANSWER)
        app = web.Application()
        app[SETTINGS], app[DB], app[KNOWLEDGE], app[TENANTS] = settings, db, handle(kb), \
            PgTenants(db)
        app.add_subapp("/admin", create_admin_app())
        api = await aiohttp_client(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

        listed = await (await api.get("/admin/knowledge/salon/learned")).json()
        assert [a["question"] for a in listed["learned"]] == [DOG]
        shown = await api.get(f"/admin/knowledge/salon/learned/{dog}")
        assert (await shown.json())["answer"] == DOG_ANSWER
        # another client's answer is not reachable through this client
        assert (await api.get(f"/admin/knowledge/salon/learned/{spa}")).status == 404
        assert (await api.delete(f"/admin/knowledge/salon/learned/{spa}")).status == 404
        assert (await api.delete(f"/admin/knowledge/salon/learned/{dog}")).status == 200
        assert (await api.get(f"/admin/knowledge/salon/learned/{dog}")).status == 404
        assert await kb.store.point_ids("salon", "learned", "learned") == set()
        assert await kb.store.point_ids("spa", "learned", "learned") == {spa}
        rebuilt = await api.post("/admin/knowledge/spa/rebuild")
        assert (await rebuilt.json())["learned"] == 1
    finally:
        await kb.aclose()

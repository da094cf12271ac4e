"""Backup → wipe → restore → rebuild gives the same search results for a fixed set of questions
(issue 14.4), through the real commands, pg_dump / pg_restore and the bundled embedder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.knowledge import KnowledgeBase
from gateway.backup_cli import prune_backups
from gateway.wiring import open_knowledge
from storage.database import create_pool, migrate
from storage.repositories.knowledge_archive import active_collection
from storage.vectors import logical_collection
from tests.factories import make_client
from tests.lifecycle.conftest import OwnDatabase, run_cli

DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "demo_salon"
SALON_DOCUMENTS = ("01_o_salone", "05_faq")  # small: the shared machine embeds slowly
CLINIC = """# Клиника «Мейірім»
## Адрес
Филиал «Есиль»: Астана, проспект Туран, 34, рядом с ТРЦ «Хан Шатыр».
## Врачи
В клинике ведут приём 22 врача, главный врач — Ким Виктор Александрович.
## Выезд на дом
Врач и медсестра выезжают на дом по Астане с 9:00 до 18:00, выезд 7 000 ₸.
"""
DOG = "Можно прийти на маникюр со своей собакой?"
DOG_ANSWER = "Да, с маленькой собакой на руках можно."
QUESTIONS = [
    ("salon", None, "где вы находитесь?"),
    ("salon", None, "до скольки работаете?"),
    ("salon", None, "сколько держится гель-лак?"),
    ("salon", None, "с собачкой к вам можно?"),
    ("clinic", None, "где находится клиника на левом берегу?"),
    ("clinic", "esil", "сколько врачей в клинике?"),
    ("clinic", None, "есть ли выезд врача на дом?"),
]


async def answers(kb: KnowledgeBase) -> list[list[tuple]]:
    found = []
    for slug, tag, question in QUESTIONS:
        result = await kb.search(slug, question, knowledge_tag=tag)
        assert result.ok, result.error
        found.append([(p.doc_name, p.source, p.content, round(p.score, 4))
                      for p in result.value or []])
    return found


async def load(own_database: OwnDatabase, settings) -> list[list[tuple]]:
    """Two clients with documents (one tagged) and a learned answer; their answers."""
    await migrate(own_database.dsn)
    pool = await create_pool(own_database.dsn)
    try:
        await make_client(pool, "salon")
        await make_client(pool, "clinic")
        kb = await open_knowledge(settings, pool=pool)
        try:
            for name in SALON_DOCUMENTS:
                await kb.ingest_document("salon", name, (DEMO / f"{name}.md").read_text("utf-8"))
            await kb.ingest_document("clinic", "about", CLINIC, knowledge_tag="esil")
            await kb.learn("salon", DOG, DOG_ANSWER)
            return await answers(kb)
        finally:
            await kb.aclose()
    finally:
        await pool.close()


async def test_backup_wipe_restore_rebuild_gives_the_same_answers(
        own_database: OwnDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before_settings = own_database.settings(tmp_path / "before")
    before = await load(own_database, before_settings)
    assert before[3][0][1] == "learned" and all(before), before  # every question answered

    backups = tmp_path / "backups"
    assert await run_cli(before_settings, "backup", str(backups), "--json") == 0
    manifest = json.loads(capsys.readouterr().out)
    dump = backups / manifest["dump"]
    assert dump.is_file() and dump.with_suffix(".json").is_file()
    assert manifest["tables"]["clients"] == 2 and manifest["tables"]["learned_answers"] == 1
    documents = len(SALON_DOCUMENTS) + 1
    assert manifest["tables"]["knowledge_documents"] == documents
    assert manifest["schema"]["latest_migration"] == manifest["schema"]["migrations"][-1]
    assert manifest["knowledge"]["embedder"] == "local-e5-small-384"
    assert manifest["knowledge"]["dim"] == 384 and len(manifest["sha256"]) == 64

    await own_database.wipe()
    after_settings = own_database.settings(tmp_path / "after")  # no vectors either
    assert await run_cli(after_settings, "restore", str(dump), "--json") == 0
    restored = json.loads(capsys.readouterr().out)
    assert restored["differing_from_manifest"] == {}
    assert restored["tables"]["clients"] == 2
    with pytest.raises(ValueError, match="holds data"):
        await run_cli(after_settings, "restore", str(dump))

    assert await run_cli(after_settings, "knowledge", "rebuild", "--json") == 0
    rebuilt = json.loads(capsys.readouterr().out)
    assert rebuilt["documents"] == documents and rebuilt["learned"] == 1 and rebuilt["left_out"] == []

    pool = await create_pool(own_database.dsn)
    try:
        kb = await open_knowledge(after_settings, pool=pool)
        try:
            serving = await active_collection(
                pool, logical_collection(after_settings.vectors, kb.embedder.name))
            assert serving is not None and kb.store.collection == serving.active == \
                rebuilt["collection"]
            assert await answers(kb) == before
        finally:
            await kb.aclose()
    finally:
        await pool.close()


async def test_a_damaged_dump_is_refused_and_restore_needs_a_file(
        own_database: OwnDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = own_database.settings(tmp_path / "data")
    await migrate(own_database.dsn)
    assert await run_cli(settings, "backup", str(tmp_path), "--json") == 0
    dump = tmp_path / json.loads(capsys.readouterr().out)["dump"]
    with dump.open("ab") as handle:
        handle.write(b"tail")
    with pytest.raises(ValueError, match="checksum"):
        await run_cli(settings, "restore", str(dump))
    with pytest.raises(ValueError, match="no such backup file"):
        await run_cli(settings, "restore", str(tmp_path / "missing.dump"))


async def test_a_restore_that_fails_leaves_the_database_as_it_was(
        own_database: OwnDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from storage.backup import BackupError

    settings = own_database.settings(tmp_path / "data")
    await migrate(own_database.dsn)
    pool = await create_pool(own_database.dsn)
    try:
        await make_client(pool, "salon")
        assert await run_cli(settings, "backup", str(tmp_path), "--json") == 0
        dump = tmp_path / json.loads(capsys.readouterr().out)["dump"]
        dump.with_suffix(".json").unlink()  # no manifest: nothing checks the file first
        dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
        await make_client(pool, "spa")
        with pytest.raises(BackupError, match="pg_restore failed"):
            await run_cli(settings, "restore", str(dump), "--force")
        assert [row["slug"] for row in await pool.fetch("SELECT slug FROM clients ORDER BY slug")] \
            == ["salon", "spa"]
    finally:
        await pool.close()


def test_retention_keeps_the_newest_backups(tmp_path: Path) -> None:
    names = [f"truffles-2025010{day}T000000000Z" for day in range(1, 6)]
    for name in names:
        (tmp_path / f"{name}.dump").write_bytes(b"x")
        (tmp_path / f"{name}.json").write_text("{}")
    (tmp_path / "unrelated.dump").write_bytes(b"x")
    removed = prune_backups(tmp_path, 2)
    assert removed == [f"{name}.dump" for name in reversed(names[:3])]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*(f"{n}.dump" for n in names[3:]), *(f"{n}.json" for n in names[3:]), "unrelated.dump"])

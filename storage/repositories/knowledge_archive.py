"""The knowledge archive (`core.ports.KnowledgeArchive`, migration 0040): documents' texts and
learned answers in PostgreSQL, and which vector collection serves each logical one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from core.knowledge_types import ArchivedDocument, LearnedAnswer

Executor = asyncpg.Connection | asyncpg.Pool
KNOWLEDGE_CHANNEL = "truffles_knowledge"  # a rebuilt collection is ready: NOTIFY'd with its name


class PgKnowledgeArchive:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def save_document(self, document: ArchivedDocument) -> None:
        await self._pool.execute(
            """INSERT INTO knowledge_documents (client_id, doc_name, knowledge_tag, content)
               SELECT id, $2, $3, $4 FROM clients WHERE slug = $1
               ON CONFLICT (client_id, doc_name) DO UPDATE
                  SET knowledge_tag = EXCLUDED.knowledge_tag, content = EXCLUDED.content,
                      updated_at = now()
                WHERE (knowledge_documents.knowledge_tag, knowledge_documents.content)
                      IS DISTINCT FROM (EXCLUDED.knowledge_tag, EXCLUDED.content)""",
            document.client_slug, document.doc_name, document.knowledge_tag, document.content)

    async def delete_document(self, client_slug: str, doc_name: str) -> bool:
        result = await self._pool.execute(
            """DELETE FROM knowledge_documents d USING clients c
                WHERE d.client_id = c.id AND c.slug = $1 AND d.doc_name = $2""",
            client_slug, doc_name)
        return result != "DELETE 0"

    async def documents(self, client_slug: str, *, since: datetime | None = None
                        ) -> list[ArchivedDocument]:
        rows = await self._pool.fetch(
            """SELECT d.doc_name, d.content, d.knowledge_tag, d.updated_at
                 FROM knowledge_documents d JOIN clients c ON c.id = d.client_id
                WHERE c.slug = $1 AND ($2::timestamptz IS NULL OR d.updated_at >= $2)
                ORDER BY d.doc_name""", client_slug, since)
        return [ArchivedDocument(client_slug, r["doc_name"], r["content"], r["knowledge_tag"],
                                 r["updated_at"]) for r in rows]

    async def save_learned(self, answer: LearnedAnswer) -> None:
        await self._pool.execute(
            """INSERT INTO learned_answers (id, client_id, question, answer, knowledge_tag)
               SELECT $1, id, $3, $4, $5 FROM clients WHERE slug = $2
               ON CONFLICT (id) DO UPDATE SET answer = EXCLUDED.answer,
                                              knowledge_tag = EXCLUDED.knowledge_tag""",
            UUID(answer.id), answer.client_slug, answer.question, answer.answer,
            answer.knowledge_tag)

    async def delete_learned(self, client_slug: str, ids: Sequence[str]) -> int:
        valid = _uuids(ids)
        if not valid:
            return 0
        result = await self._pool.execute(
            """DELETE FROM learned_answers l USING clients c
                WHERE l.client_id = c.id AND c.slug = $1 AND l.id = ANY($2::uuid[])""",
            client_slug, valid)
        return int(result.split()[-1])

    async def learned(self, client_slug: str, knowledge_tag: str | None = None, *,
                      since: datetime | None = None) -> list[LearnedAnswer]:
        rows = await self._pool.fetch(
            """SELECT l.* FROM learned_answers l JOIN clients c ON c.id = l.client_id
                WHERE c.slug = $1 AND ($2::text IS NULL OR l.knowledge_tag = $2)
                  AND ($3::timestamptz IS NULL OR l.created_at >= $3)
                ORDER BY l.created_at, l.id""", client_slug, knowledge_tag, since)
        return [_learned(client_slug, r) for r in rows]

    async def learned_one(self, client_slug: str, answer_id: str) -> LearnedAnswer | None:
        valid = _uuids([answer_id])
        if not valid:
            return None
        row = await self._pool.fetchrow(
            """SELECT l.* FROM learned_answers l JOIN clients c ON c.id = l.client_id
                WHERE c.slug = $1 AND l.id = $2""", client_slug, valid[0])
        return _learned(client_slug, row) if row else None


def _learned(client_slug: str, row: asyncpg.Record) -> LearnedAnswer:
    return LearnedAnswer(str(row["id"]), client_slug, row["question"], row["answer"],
                         row["knowledge_tag"], row["created_at"])


def _uuids(ids: Sequence[str]) -> list[UUID]:
    """The ids that can be learned answers' (anything else names none)."""
    valid = []
    for raw in ids:
        try:
            valid.append(UUID(str(raw)))
        except ValueError:
            continue
    return valid


@dataclass(frozen=True, slots=True)
class ActiveCollection:
    name: str  # the logical collection
    active: str  # the physical one serving it
    embedder: str
    dim: int
    points: int
    built_at: datetime


async def active_collection(db: Executor, logical: str) -> ActiveCollection | None:
    """The collection a rebuild made for `logical`; None: `logical` itself serves."""
    row = await db.fetchrow("SELECT * FROM vector_collections WHERE name = $1", logical)
    return ActiveCollection(**dict(row)) if row else None


async def activate_collection(db: Executor, logical: str, physical: str, embedder: str, dim: int,
                              points: int) -> None:
    """Point `logical` at `physical` and tell every gateway (they switch to it); one statement,
    so the notification goes out with the commit of the change."""
    await db.execute(
        """WITH moved AS (
               INSERT INTO vector_collections (name, active, embedder, dim, points)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (name) DO UPDATE SET active = EXCLUDED.active,
                   embedder = EXCLUDED.embedder, dim = EXCLUDED.dim, points = EXCLUDED.points,
                   built_at = now()
               RETURNING name)
           SELECT pg_notify($6, name) FROM moved""",
        logical, physical, embedder, dim, points, KNOWLEDGE_CHANNEL)


async def database_now(db: Executor) -> datetime:
    return await db.fetchval("SELECT now()")

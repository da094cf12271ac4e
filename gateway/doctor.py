"""`doctor`: every check of the deployment and of its clients, run against the parts the caller
has open. The command opens its own (`wiring.open_doctor`: nothing migrated, nothing fatal);
a serving gateway hands in its running ones and caches the results (`gateway/doctor_cache.py`).

Global: the database (reachable, every migration applied), the embedder (answers), the vector
store (reachable, its collection's dimension is the embedder's), the LLM (answers one token,
or no-LLM mode). Per client: ChatFlow credentials, webhook secret, timezone, working hours, the
Telegram desk (`channels/telegram/doctor.py`) and its knowledge."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg

from core import doctor as checks
from core.doctor import Check, failed, passed, scoped, skipped
from core.knowledge import KnowledgeBase
from core.knowledge_types import VectorStoreError
from core.models import Branch, Client
from gateway.settings import Settings
from storage.migrate import pending_migrations
from storage.repositories import clients

if TYPE_CHECKING:
    from ai.llm import OpenAIChat

CONCURRENT_CLIENTS = 4


@dataclass(frozen=True, slots=True)
class KnowledgeState:
    """The knowledge base if it is open, else why not (the exception of the last try)."""
    kb: KnowledgeBase | None
    failure: BaseException | str | None = None


class Doctor:
    def __init__(self, settings: Settings, pool: asyncpg.Pool | None, *,
                 knowledge: Callable[[], KnowledgeState], llm: OpenAIChat | None,
                 database_error: str | None = None) -> None:
        self._settings = settings
        self._pool = pool
        self._knowledge = knowledge
        self._llm = llm
        self._database_error = database_error

    async def run(self, slug: str | None = None) -> list[Check]:
        """Every global check, then each active client's (or only SLUG's, whatever its
        status). ValueError when SLUG names no client."""
        found = await self.global_checks()
        if not any(c.name == "database" and c.status == checks.Status.PASS for c in found):
            return [*found, skipped("clients", "needs the database")]
        for client_checks in await self.each_client(await self.clients(slug)):
            found += client_checks
        return found

    async def each_client(self, targets: list[Client]) -> list[list[Check]]:
        """The clients' checks, a few clients at a time (each makes a handful of Bot API
        calls)."""
        gate = asyncio.Semaphore(CONCURRENT_CLIENTS)

        async def one(client: Client) -> list[Check]:
            async with gate:
                return await self.client_checks(client)
        return list(await asyncio.gather(*(one(c) for c in targets)))

    async def clients(self, slug: str | None = None) -> list[Client]:
        assert self._pool is not None
        if slug is None:
            return [c for c in await clients.list_all(self._pool) if c.status == "active"]
        client = await clients.by_slug(self._pool, slug)
        if client is None:
            raise ValueError(f"no client with slug {slug!r}")
        return [client]

    # --- global ---------------------------------------------------------------------------

    async def global_checks(self) -> list[Check]:
        database, knowledge, llm = await asyncio.gather(
            self._database(), self._knowledge_checks(), self._llm_check())
        return [database, *knowledge, llm]

    async def _database(self) -> Check:
        hint = "check DATABASE_URL and that PostgreSQL is running"
        if self._pool is None:
            return failed("database", f"unreachable: {self._database_error}", hint)
        try:
            pending = await pending_migrations(self._pool)
        except Exception as exc:
            return failed("database", f"unreachable: {type(exc).__name__}: {exc}", hint)
        if pending:
            return failed("database", f"{len(pending)} migration(s) not applied: "
                          f"{', '.join(pending)}", "python -m gateway migrate")
        return passed("database", "reachable, every migration applied")

    def _store_place(self) -> str:
        if self._settings.qdrant_url:
            return f"Qdrant server {self._settings.qdrant_url}"
        return f"embedded store under {self._settings.data_dir / 'vectors'} (no QDRANT_URL)"

    async def _knowledge_checks(self) -> list[Check]:
        state = self._knowledge()
        kb = state.kb
        if kb is None:
            why = state.failure if isinstance(state.failure, str) else \
                f"{type(state.failure).__name__}: {state.failure}" if state.failure else "starting"
            if isinstance(state.failure, VectorStoreError):
                return [passed("embedder", "answered (the store failed after it)"),
                        failed("vector_store", f"{self._store_place()}: {why}",
                               "check QDRANT_URL / QDRANT_API_KEY; a dimension mismatch needs "
                               "another QDRANT_COLLECTION or a re-ingest")]
            return [failed("embedder", f"{self._settings.embeddings_provider}: {why}",
                           "check EMBEDDINGS_PROVIDER / EMBEDDINGS_URL (TEI downloads its model "
                           "on first start: wait and run doctor again)"),
                    skipped("vector_store", "needs the embedder's dimension")]
        from ai.embeddings import check_embedder

        try:
            dim = await check_embedder(kb.embedder)
        except Exception as exc:
            return [failed("embedder", str(exc), "check EMBEDDINGS_URL and the embedder's logs"),
                    skipped("vector_store", "needs the embedder's dimension")]
        embedder = passed("embedder", f"{kb.embedder.name} answered ({dim} dims)")
        try:
            await kb.store.ensure_collection(dim)  # refuses a collection of another dimension
            points = await kb.store.count()
        except Exception as exc:
            return [embedder, failed("vector_store", f"{self._store_place()}: {exc}",
                                     "check QDRANT_URL / QDRANT_API_KEY and the store's logs")]
        return [embedder, passed("vector_store", f"{self._store_place()}, collection "
                                 f"{kb.store.collection}: {dim} dims, {points} points")]

    async def _llm_check(self) -> Check:
        if self._llm is None:
            return passed("llm", "no-LLM mode (no OPENAI_API_KEY / OPENAI_BASE_URL): answers "
                          "come from the knowledge base")
        result = await self._llm.complete([{"role": "user", "content": "Reply with: ok"}],
                                          max_tokens=1, temperature=0, purpose="doctor")
        if not result.ok:
            return failed("llm", f"{self._settings.llm_model}: {result.error}",
                          "check OPENAI_BASE_URL / OPENAI_API_KEY / LLM_MODEL")
        return passed("llm", f"{self._settings.llm_model} answered")

    # --- per client -----------------------------------------------------------------------

    async def client_checks(self, client: Client) -> list[Check]:
        assert self._pool is not None
        branches = [b for b in await clients.branches(self._pool, client.id) if b.is_active]
        found = [
            checks.chatflow_check(client, branches,
                                  default_token=self._settings.chatflow_token is not None),
            checks.webhook_secret_check(client),
            checks.timezone_check(client),
            checks.working_hours_check(client, branches),
            *await self._desk(client, branches),
            await self._client_knowledge(client),
        ]
        return scoped(found, client.slug)

    async def _desk(self, client: Client, branches: list[Branch]) -> list[Check]:
        token = client.settings.telegram_bot_token
        if not token:
            return checks.no_bot_checks(client.slug)
        from channels.telegram.doctor import DeskTarget, desk_checks  # aiogram: only with a bot

        own = client.settings.telegram_chat_id
        groups = [("", own), *((b.slug, b.telegram_chat_id) for b in branches
                               if b.telegram_chat_id and b.telegram_chat_id != own)]
        telegram = self._settings.telegram
        return await desk_checks(telegram.api_base, DeskTarget(
            slug=client.slug, token=token, groups=groups, mode=telegram.mode,
            public_base_url=telegram.public_base_url))

    async def _client_knowledge(self, client: Client) -> Check:
        kb = self._knowledge().kb
        if kb is None:
            return checks.knowledge_check(client, None, "the knowledge base is not open")
        try:
            return checks.knowledge_check(client, await kb.store.count(client.slug))
        except Exception as exc:
            return checks.knowledge_check(client, None, f"cannot count: {exc}")

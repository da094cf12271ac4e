"""The composition root: the one function that builds the system from settings, in dependency
order, and takes it down in reverse. The app (`serve`) and the one-shot commands (`chat`,
`knowledge`, `heal`) all come through `build_system`, each asking for the parts it needs.

    database → store, tenants, inbox, desk, relay          always
    embedder + vector store → knowledge base              knowledge=True
    LLM → answerer → turn processor                       pipeline=True
    ChatFlow sender, Telegram desk, outbox + turn workers,
    scheduler                                             serving=True

A part that fails to start unwinds the parts already started (an `AsyncExitStack`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import aiohttp

from ai.embeddings import build_embedder, check_embedder
from ai.llm import OpenAIChat
from ai.rerank import LLMReranker, TeiReranker
from ai.settings import RerankProvider
from channels.chatflow.client import ChatFlowClient, WhatsAppSender
from channels.telegram.desk import TelegramDesk
from core.answers import Answerer
from core.desk import Desk
from core.knowledge import KnowledgeBase
from core.pipeline import TurnProcessor
from core.ports import Sender, Tenants
from core.relay import Relay
from gateway import metrics
from gateway.demo import load_demo_knowledge, seed_demo_client
from gateway.hours_admin import readiness_check as hours_readiness
from gateway.outbox_worker import OutboxWorker
from gateway.readiness import Check, Readiness
from gateway.settings import Settings
from gateway.turn_worker import TurnWorker
from scheduler.jobs import SchedulerPorts, default_jobs
from scheduler.runner import ScheduledWork
from storage.database import Database, open_database
from storage.leader import Leadership
from storage.repositories.desk import PgDeskRecords, PgUpdateLog
from storage.repositories.maintenance import PgMaintenance
from storage.retry import TRANSIENT
from storage.store import PgDeliveryProgress, PgInbox, PgStore, PgTenants
from storage.tenant_cache import CachedTenants
from storage.vectors import build_vector_store

log = logging.getLogger(__name__)


@dataclass
class System:
    settings: Settings
    database: Database
    store: PgStore
    tenants: Tenants
    inbox: PgInbox
    desk: Desk
    relay: Relay
    scheduler_ports: SchedulerPorts
    readiness: Readiness = field(default_factory=Readiness)
    knowledge: KnowledgeBase | None = None
    llm: OpenAIChat | None = None
    processor: TurnProcessor | None = None
    telegram: TelegramDesk | None = None
    scheduler: ScheduledWork | None = None


@asynccontextmanager
async def build_system(settings: Settings, *, knowledge: bool = False, pipeline: bool = False,
                       serving: bool = False, knowledge_snapshot: bool = False,
                       demo: bool = False) -> AsyncIterator[System]:
    """`knowledge_snapshot`: read the embedded vector store from a snapshot when a running
    server holds it (read-mostly commands next to `serve`). `demo`: with DEMO_SEED, create the
    demo client (and load its knowledge) when the database has no clients; serving implies it."""
    pipeline = pipeline or serving
    knowledge = knowledge or pipeline
    demo = settings.demo_seed and (demo or serving)
    async with AsyncExitStack() as stack:
        database = await stack.enter_async_context(open_database(settings.database))
        tenants: Tenants = PgTenants(database.pool)
        if serving:  # a long-running process: settings cached, dropped on every change
            cached = CachedTenants(PgTenants(database.pool), database.dsn)
            await cached.start()
            stack.push_async_callback(cached.stop)
            tenants = cached
        system = _core_parts(settings, database, tenants)
        system.readiness.add("database", lambda: _database_check(database))
        system.readiness.add("working_hours", hours_readiness(database.pool))
        if demo:
            await seed_demo_client(database.pool)
        if knowledge:
            system.knowledge = await _open_knowledge(stack, settings, knowledge_snapshot)
            system.readiness.add("knowledge", _knowledge_check(system.knowledge))
            if demo:
                await load_demo_knowledge(database.pool, system.knowledge)
        if pipeline:
            system.llm = _open_llm(stack, settings)
            system.readiness.add("llm", _llm_check(settings, system.llm))
            system.processor = TurnProcessor(system.store, system.tenants,
                                             Answerer(system.knowledge, system.llm), system.llm,
                                             system.desk)
        if serving:
            await _start_serving(stack, system)
        yield system


def _core_parts(settings: Settings, database: Database, tenants: Tenants) -> System:
    store = PgStore(database.pool, reply_retry=timedelta(minutes=settings.reply_retry_minutes))
    desk = Desk(store, tenants)
    return System(settings=settings, database=database, store=store, tenants=tenants,
                  inbox=PgInbox(database.pool, group_commit=True), desk=desk,
                  relay=Relay(store, desk),
                  scheduler_ports=SchedulerPorts(store, tenants, PgMaintenance(database.pool),
                                                 desk, transient=TRANSIENT))


async def _open_knowledge(stack: AsyncExitStack, settings: Settings,
                          snapshot: bool) -> KnowledgeBase:
    """The configured embedder and store, checked: raises EmbeddingError / VectorStoreError
    with one line when the embedder is unreachable or its dimension does not fit."""
    embedder = build_embedder(settings.embeddings)
    stack.push_async_callback(embedder.aclose)
    dim = await check_embedder(embedder)
    store = build_vector_store(settings.vectors, embedder, snapshot_if_busy=snapshot)
    stack.push_async_callback(store.aclose)
    await store.ensure_collection(dim)
    return KnowledgeBase(embedder, store, reranker=_open_reranker(stack, settings))


def _open_reranker(stack: AsyncExitStack, settings: Settings) -> TeiReranker | LLMReranker | None:
    """The re-ranking stage RERANK_PROVIDER names (none by default)."""
    provider = settings.rerank.provider
    if provider == RerankProvider.TEI:
        if not settings.rerank.url:
            raise ValueError("RERANK_PROVIDER=tei needs RERANK_URL")
        reranker = TeiReranker(settings.rerank.url)
        stack.push_async_callback(reranker.aclose)
        return reranker
    if provider == RerankProvider.LLM:
        llm = _open_llm(stack, settings)
        if llm is None:
            raise ValueError("RERANK_PROVIDER=llm needs OPENAI_API_KEY or OPENAI_BASE_URL")
        return LLMReranker(llm)
    return None


def _open_llm(stack: AsyncExitStack, settings: Settings) -> OpenAIChat | None:
    llm_settings = settings.llm
    if not llm_settings.enabled:
        return None
    key = llm_settings.api_key.get_secret_value() if llm_settings.api_key else None
    llm = OpenAIChat(api_key=key, base_url=llm_settings.base_url, model=llm_settings.model,
                     timeout=llm_settings.timeout_seconds, observer=metrics.record_llm_call)
    stack.push_async_callback(llm.aclose)
    return llm


async def _start_serving(stack: AsyncExitStack, system: System) -> None:
    """Senders, the Telegram desk, the workers and the scheduler, started in that order (the
    outbox worker needs every sender; the turn worker goes last, when everything it feeds is
    there) and stopped in reverse."""
    settings, pool, dsn = system.settings, system.database.pool, system.database.dsn
    http = await stack.enter_async_context(
        aiohttp.ClientSession(headers={"User-Agent": "truffles-gateway"}))
    chatflow = settings.chatflow
    senders: dict[str, Sender] = {"whatsapp": WhatsAppSender(
        ChatFlowClient(http, chatflow.api_base), system.tenants,
        chatflow.token.get_secret_value() if chatflow.token else None)}

    system.telegram = TelegramDesk(
        settings.telegram, tenants=system.tenants, records=PgDeskRecords(pool),
        update_log=PgUpdateLog(pool), progress=PgDeliveryProgress(pool), desk=system.desk,
        relay=system.relay, knowledge=lambda: system.knowledge, transient=TRANSIENT)
    senders["telegram"] = system.telegram.sender
    system.readiness.add("telegram", system.telegram.readiness)
    await system.telegram.start()
    stack.push_async_callback(system.telegram.stop)

    outbox = OutboxWorker(pool, dsn, senders, store=system.store, tenants=system.tenants,
                          concurrency=settings.workers)
    await outbox.start()
    stack.push_async_callback(outbox.stop)

    leadership = Leadership(dsn)
    system.scheduler = ScheduledWork(leadership, default_jobs(
        system.scheduler_ports, leadership, settings.scheduler), transient=TRANSIENT)
    system.readiness.add("scheduler", _scheduler_check(leadership))
    await leadership.check()
    await system.scheduler.start()
    stack.push_async_callback(system.scheduler.stop)

    assert system.processor is not None
    turns = TurnWorker(pool, dsn, system.processor, concurrency=settings.workers,
                       lease=timedelta(seconds=settings.turn_lease_seconds))
    await turns.start()
    stack.push_async_callback(turns.stop)


# --------------------------------------------------------------------------- readiness checks


async def _database_check(database: Database) -> dict[str, object]:
    await database.pool.fetchval("SELECT 1")
    return {"status": "ok"}


def _knowledge_check(kb: KnowledgeBase) -> Check:
    async def check() -> dict[str, object]:
        return {"status": "ok", "embedder": kb.embedder.name, "collection": kb.store.collection,
                "points": await kb.store.count()}
    return check


def _llm_check(settings: Settings, llm: OpenAIChat | None) -> Check:
    async def check() -> dict[str, object]:
        # The bot degrades without its LLM (knowledge answers, fallbacks): "degraded", not "down".
        if llm is None:
            return {"status": "disabled"}
        probe = await llm.probe()
        return {"status": "ok" if probe.ok else "degraded", "model": settings.llm_model,
                **({} if probe.ok else {"error": probe.error})}
    return check


def _scheduler_check(leadership: Leadership) -> Check:
    async def check() -> dict[str, object]:
        # A follower is ready too: it takes over when the leader goes away.
        return {"status": "ok", "leader": leadership.is_leader}
    return check

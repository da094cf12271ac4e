"""The composition root: the one function that builds the system from settings, in dependency
order, and takes it down in reverse. The app (`serve`) and the one-shot commands (`chat`,
`knowledge`, `heal`) all come through `build_system`, each asking for the parts it needs.

    database → store, tenants, inbox, desk, relay          always
    embedder + vector store → knowledge base              knowledge=True
    LLM, transcriber → answerer → turn processor          pipeline=True
    alerter (operator chat, owners), ChatFlow sender,
    Telegram desk, outbox + turn workers (their alert
    hooks), scheduler                                     serving=True

A part that fails to start unwinds the parts already started (an `AsyncExitStack`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, AsyncExitStack, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg

from core.desk import Desk
from core.ports import Reranker, Tenants
from core.relay import Relay
from gateway.hours_admin import readiness_check as hours_readiness
from gateway.ingest_load import IngestLoad
from gateway.readiness import Check, Readiness
from gateway.settings import Settings
from scheduler.jobs import SchedulerPorts
from storage.database import Database, create_pool, database_dsn, open_database
from storage.repositories.maintenance import PgMaintenance
from storage.retry import TRANSIENT
from storage.store import PgInbox, PgStore, PgTenants
from storage.tenant_cache import CachedTenants

# Imported where a part is built: a command that does not build it loads none of it (the
# knowledge base and the pipeline bring numpy and the decision layer, serving brings aiohttp).
if TYPE_CHECKING:
    from ai.llm import OpenAIChat
    from ai.transcription import OpenAITranscriber
    from core.alerts import Alerter, AlertNotifier
    from core.knowledge import KnowledgeBase
    from core.pipeline import TurnProcessor
    from core.semantic import SemanticMatcher
    from gateway.doctor import Doctor
    from gateway.doctor_cache import DoctorCache
    from gateway.serving import Serving
    from gateway.supervised import KnowledgeHandle, Supervised

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
    ingest: IngestLoad = field(default_factory=IngestLoad)
    knowledge: KnowledgeHandle | None = None
    llm: OpenAIChat | None = None
    semantic: SemanticMatcher | None = None
    transcriber: OpenAITranscriber | None = None
    processor: TurnProcessor | None = None
    alerter: Alerter | None = None
    serving: Serving | None = None
    doctor: DoctorCache | None = None


@asynccontextmanager
async def build_system(settings: Settings, *, knowledge: bool = False, pipeline: bool = False,
                       serving: bool = False, knowledge_snapshot: bool = False,
                       demo: bool = False, primary: bool = True, one_of_processes: bool = False,
                       ) -> AsyncIterator[System]:
    """`knowledge_snapshot`: read the embedded vector store from a snapshot when a running
    server holds it (read-mostly commands next to `serve`). `demo`: with DEMO_SEED, create the
    demo client (and load its knowledge) when the database has no clients; serving implies it.
    `primary`: a serving process that runs the Telegram bots (all but the secondaries of
    `serve --processes N`, `gateway/processes.py`). `one_of_processes`: one of those N, which
    share the embedded vector store (the primary's, `gateway/store_service.py`)."""
    pipeline = pipeline or serving
    knowledge = knowledge or pipeline
    demo = settings.demo_seed and (demo or serving)
    sharing_store = one_of_processes and knowledge and settings.qdrant_url is None
    if sharing_store:
        from gateway.store_service import knowledge_store, serve_store, store_socket
    if sharing_store and not primary:
        settings = settings.using_store_of_primary(store_socket(settings.data_dir))
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
            from gateway.demo import seed_demo_client

            await seed_demo_client(database.pool)
        if knowledge:
            system.knowledge = await _knowledge(stack, system, snapshot=knowledge_snapshot,
                                                background=serving, demo=demo)
            if sharing_store and primary:
                await serve_store(stack, store_socket(settings.data_dir),
                                  knowledge_store(system.knowledge))
        if pipeline:
            from core.answers import Answerer
            from core.pipeline import TurnProcessor

            system.llm = _open_llm(stack, settings, waiting=system.ingest.waiting_on_model)
            system.readiness.add("llm", _llm_check(settings, system.llm))
            system.transcriber = _open_transcriber(stack, settings)
            system.readiness.add("transcription", _transcription_check(system.transcriber))
            system.processor = TurnProcessor(system.store, system.tenants,
                                             Answerer(system.knowledge, system.llm), system.llm,
                                             system.desk, transcriber=system.transcriber,
                                             limits=settings.turn_limits)
            await _use_semantic(system)
        if serving:
            from core.alerts import Alerter
            from gateway import metrics
            from gateway.serving import start_serving
            from storage.repositories.alerts import PgAlertLog

            system.alerter = Alerter(PgAlertLog(database.pool), _open_alert_chat(stack, settings),
                                     system.store, policy=settings.alert_policy,
                                     observer=metrics.record_alert)
            system.serving = await start_serving(stack, system, primary=primary)
            system.doctor = _serving_doctor(stack, system)
        yield system


def _serving_doctor(stack: AsyncExitStack, system: System) -> DoctorCache:
    """`doctor` on the running parts, cached: the "clients" entry of `/ready`."""
    from gateway.doctor import Doctor, KnowledgeState
    from gateway.doctor_cache import DoctorCache

    handle = system.knowledge
    assert handle is not None

    def knowledge() -> KnowledgeState:
        return KnowledgeState(handle.current, handle.failure)

    cache = DoctorCache(Doctor(system.settings, system.database.pool, knowledge=knowledge,
                               llm=system.llm))
    stack.push_async_callback(cache.stop)
    system.readiness.add("clients", cache.readiness_check())
    return cache


@asynccontextmanager
async def open_doctor(settings: Settings) -> AsyncIterator[Doctor]:
    """What the `doctor` command checks, opened without side effects and without giving up on
    the way: the database as it is (not migrated), the knowledge base (a snapshot when a running
    gateway holds the embedded store) and the LLM. Whatever cannot be opened is what its check
    reports."""
    from gateway.doctor import Doctor, KnowledgeState

    async with AsyncExitStack() as stack:
        pool, database_error = None, None
        try:
            dsn = await stack.enter_async_context(database_dsn(settings.database))
            pool = await create_pool(dsn, max_size=4)
            stack.push_async_callback(pool.close)
        except Exception as exc:
            database_error = f"{type(exc).__name__}: {exc}"
        try:
            kb = await open_knowledge(settings, snapshot=True)
            stack.push_async_callback(kb.aclose)
            knowledge = KnowledgeState(kb)
        except Exception as exc:
            knowledge = KnowledgeState(None, exc)
        yield Doctor(settings, pool, knowledge=lambda: knowledge, llm=_open_llm(stack, settings),
                     database_error=database_error)


def _core_parts(settings: Settings, database: Database, tenants: Tenants) -> System:
    store = PgStore(database.pool, reply_retry=timedelta(minutes=settings.reply_retry_minutes))
    desk = Desk(store, tenants)
    return System(settings=settings, database=database, store=store, tenants=tenants,
                  inbox=PgInbox(database.pool, group_commit=True), desk=desk,
                  relay=Relay(store, desk),
                  scheduler_ports=SchedulerPorts(store, tenants, PgMaintenance(database.pool),
                                                 desk, transient=TRANSIENT))


async def open_knowledge(settings: Settings, *, snapshot: bool = False,
                         pool: asyncpg.Pool | None = None) -> KnowledgeBase:
    """The configured embedder and store, checked: raises EmbeddingError / VectorStoreError
    with one line when the embedder is unreachable or its dimension does not fit. With the
    database's `pool`: on the collection a rebuild made (when one did), texts archived there."""
    from ai.embeddings import build_embedder, check_embedder
    from core.knowledge import KnowledgeBase
    from gateway.observed import ObservedEmbedder
    from storage.repositories.knowledge_archive import PgKnowledgeArchive, active_collection
    from storage.vectors import build_vector_store, logical_collection

    embedder = ObservedEmbedder(build_embedder(settings.embeddings))
    try:
        dim = await check_embedder(embedder)
        rebuilt = await active_collection(pool, logical_collection(settings.vectors, embedder.name)) \
            if pool is not None else None
        store = build_vector_store(settings.vectors, embedder, snapshot_if_busy=snapshot,
                                   collection=rebuilt.active if rebuilt else None)
        try:
            await store.ensure_collection(dim)
        except BaseException:
            await store.aclose()
            raise
    except BaseException:
        await embedder.aclose()
        raise
    return KnowledgeBase(embedder, store, reranker=_open_reranker(settings),
                         archive=PgKnowledgeArchive(pool) if pool is not None else None)


def _open_reranker(settings: Settings) -> Reranker | None:
    """The re-ranking stage RERANK_PROVIDER names (none by default); the knowledge base closes
    it with itself."""
    from ai.settings import RerankProvider

    provider = settings.rerank.provider
    if provider == RerankProvider.TEI:
        from ai.rerank import TeiReranker

        if not settings.rerank.url:
            raise ValueError("RERANK_PROVIDER=tei needs RERANK_URL")
        return TeiReranker(settings.rerank.url)
    if provider == RerankProvider.LLM:
        from ai.rerank import LLMReranker

        llm = _new_llm(settings)
        if llm is None:
            raise ValueError("RERANK_PROVIDER=llm needs OPENAI_API_KEY or OPENAI_BASE_URL")
        return LLMReranker(llm)
    return None


async def _knowledge(stack: AsyncExitStack, system: System, *, snapshot: bool, background: bool,
                     demo: bool) -> KnowledgeHandle:
    """A command opens the knowledge base before it goes on (and fails with one line when it
    cannot); a serving gateway opens it in the background and answers without it meanwhile."""
    from core.knowledge import KnowledgeBase
    from gateway.demo import load_demo_knowledge
    from gateway.heap import freeze_what_start_built
    from gateway.supervised import KnowledgeHandle, Supervised

    async def ready(kb: KnowledgeBase) -> None:
        await _use_semantic(system)
        if demo:
            await load_demo_knowledge(system.database.pool, kb)
        if background:  # a serving gateway's last part of the start
            freeze_what_start_built()

    supervised: Supervised[KnowledgeBase] = Supervised(
        "knowledge base", lambda: open_knowledge(system.settings, snapshot=snapshot,
                                                 pool=system.database.pool),
        KnowledgeBase.aclose, on_ready=ready)
    if background:
        await supervised.start()
    else:
        supervised.current = await open_knowledge(system.settings, snapshot=snapshot,
                                                  pool=system.database.pool)
        await ready(supervised.current)
        supervised.settled = True
    stack.push_async_callback(supervised.stop)
    system.readiness.add("knowledge", _knowledge_check(supervised))
    return KnowledgeHandle(supervised)


async def _use_semantic(system: System) -> None:
    """Once both the turn processor and the embedder are there: decisions by similarity to the
    examples too, with the default policy's example vectors computed ahead of the first turn."""
    kb = system.knowledge.current if system.knowledge else None
    if system.processor is None or kb is None or system.semantic is not None:
        return
    from core.calibration import thresholds_for
    from core.policy import DEFAULT_POLICY
    from core.semantic import SHARED_VECTORS, SemanticMatcher
    from gateway.decision_eval import SHIPPED_EXAMPLE_VECTORS, decision_corpus
    from storage.vector_archive import FileVectorArchive

    SHARED_VECTORS.keep_in(FileVectorArchive(system.settings.data_dir / "example-vectors",
                                             shipped=SHIPPED_EXAMPLE_VECTORS))
    corpus: list[tuple[str, str]] = []
    if thresholds_for(kb.embedder.name) is not None:  # else the classifier is never used
        corpus = await asyncio.to_thread(decision_corpus)  # ~2,500 YAML items: off the loop
    system.semantic = SemanticMatcher(kb.embedder, corpus=corpus)
    system.processor.use_semantic(system.semantic)
    if system.semantic.thresholds is not None:
        try:
            await system.semantic.prepare(DEFAULT_POLICY)
        except Exception as exc:  # the first turn computes them (or decides by rules) instead
            log.warning("example vectors not prepared: %s", exc)


def _open_llm(stack: AsyncExitStack, settings: Settings,
              waiting: Callable[[], AbstractContextManager[None]] = nullcontext
              ) -> OpenAIChat | None:
    llm = _new_llm(settings, waiting)
    if llm is not None:
        stack.push_async_callback(llm.aclose)
    return llm


def _open_alert_chat(stack: AsyncExitStack, settings: Settings) -> AlertNotifier | None:
    """The operator's alert chat, when ALERT_TELEGRAM_CHAT_ID (and its bot) are set: alerts are
    still logged, counted and sent to owners without it."""
    token, chat_id = settings.alert_telegram_bot_token, settings.alert_telegram_chat_id
    if token is None or chat_id is None:
        return None
    from channels.telegram.alerts import TelegramAlertNotifier

    notifier = TelegramAlertNotifier(settings.telegram_api_base, token.get_secret_value(), chat_id)
    stack.push_async_callback(notifier.aclose)
    return notifier


def _open_transcriber(stack: AsyncExitStack, settings: Settings) -> OpenAITranscriber | None:
    if not settings.transcription.enabled:
        return None
    from ai.transcription import OpenAITranscriber

    transcriber = OpenAITranscriber(settings.transcription)
    stack.push_async_callback(transcriber.aclose)
    return transcriber


def _new_llm(settings: Settings,
             waiting: Callable[[], AbstractContextManager[None]] = nullcontext
             ) -> OpenAIChat | None:
    llm_settings = settings.llm
    if not llm_settings.enabled:
        return None
    from ai.llm import OpenAIChat
    from gateway import metrics

    key = llm_settings.api_key.get_secret_value() if llm_settings.api_key else None
    return OpenAIChat(api_key=key, base_url=llm_settings.base_url, model=llm_settings.model,
                      timeout=llm_settings.timeout_seconds, observer=metrics.record_llm_call,
                      waiting=waiting)


# --------------------------------------------------------------------------- readiness checks


async def _database_check(database: Database) -> dict[str, object]:
    await database.pool.fetchval("SELECT 1")
    return {"status": "ok"}


def _knowledge_check(supervised: Supervised[KnowledgeBase]) -> Check:
    """Degraded (not down) while it is not up: the bot answers without it meanwhile; and
    while it finishes its start (on a first start the demo knowledge is still being loaded:
    "points" grows, and answers come from what is in so far)."""
    async def check() -> dict[str, object]:
        kb = supervised.current
        if kb is None:
            return supervised.status()
        return {**supervised.status(), "embedder": kb.embedder.name,
                "collection": kb.store.collection, "points": await kb.store.count()}
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


def _transcription_check(transcriber: OpenAITranscriber | None) -> Check:
    async def check() -> dict[str, object]:
        # not probed: a voice note that cannot be transcribed is still answered
        if transcriber is None:
            return {"status": "disabled"}
        return {"status": "ok", "model": transcriber.model}
    return check

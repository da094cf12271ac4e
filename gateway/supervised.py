"""Parts a serving gateway can start without (issue 11: only PostgreSQL is required): each is
opened in the background and opened again with a growing pause until it works, while webhooks
are accepted and answered without it; `/ready` says which one is degraded and why."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from core.knowledge import KnowledgeBase
from core.knowledge_types import EmbeddingError, Passage
from core.result import Result

log = logging.getLogger(__name__)
T = TypeVar("T")

FIRST_PAUSE_SECONDS = 1.0
LONGEST_PAUSE_SECONDS = 60.0


class Supervised(Generic[T]):
    """`current` is None until `open` has succeeded once; `on_ready` runs after that, and
    `settled` says it has run (the part is in use meanwhile, but not yet all it will be)."""

    def __init__(self, name: str, open_part: Callable[[], Awaitable[T]],
                 close_part: Callable[[T], Awaitable[None]], *,
                 on_ready: Callable[[T], Awaitable[None]] | None = None) -> None:
        self.name = name
        self.current: T | None = None
        self.error: str | None = None
        self.failure: Exception | None = None  # the last failed open, for `doctor` to place
        self.settled = False
        self._open = open_part
        self._close = close_part
        self._on_ready = on_ready
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._keep_trying(), name=f"open-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.current is not None:
            await self._close(self.current)
            self.current = None

    async def _keep_trying(self) -> None:
        pause = FIRST_PAUSE_SECONDS
        while self.current is None:
            try:
                part = await self._open()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.error, self.failure = _one_line(exc), exc
                log.warning("%s unavailable, retrying", self.name,
                            extra={"error": self.error, "retry_in": pause})
                await asyncio.sleep(pause)
                pause = min(pause * 2, LONGEST_PAUSE_SECONDS)
                continue
            self.current, self.error, self.failure = part, None, None
            log.info("%s ready", self.name)
        if self._on_ready is not None:
            try:
                await self._on_ready(self.current)
            except Exception:
                log.exception("%s: follow-up after start failed", self.name)
        self.settled = True

    def status(self) -> dict[str, object]:
        if self.current is None:
            return {"status": "degraded", "error": self.error or "starting"}
        if not self.settled:
            return {"status": "degraded", "error": "open, finishing its start"}
        return {"status": "ok"}


class KnowledgeHandle:
    """The knowledge base as the answer stage sees it while it may still be starting: searches
    fail as `rag_error` (the answer degrades as for any retrieval failure) until it is up."""

    def __init__(self, supervised: Supervised[KnowledgeBase]) -> None:
        self._supervised = supervised

    @property
    def current(self) -> KnowledgeBase | None:
        return self._supervised.current

    @property
    def settled(self) -> bool:
        """Open, and what follows its opening done (the decision examples' vectors, the demo
        knowledge on a first start)."""
        return self._supervised.settled

    @property
    def failure(self) -> Exception | None:
        """Why the last try to open it failed (None while it is up, or still trying first)."""
        return self._supervised.failure

    async def embed_query(self, text: str) -> list[float]:
        kb = self._supervised.current
        if kb is None:
            raise EmbeddingError("the knowledge base is not ready yet")
        return await kb.embed_query(text)

    async def search(self, client_slug: str, query: str, *, knowledge_tag: str | None = None,
                     limit: int = 5, query_vector: Sequence[float] | None = None,
                     synonyms: Sequence[Sequence[str]] = ()) -> Result[list[Passage]]:
        kb = self._supervised.current
        if kb is None:
            return Result.failure("rag_error", "the knowledge base is not ready yet")
        return await kb.search(client_slug, query, knowledge_tag=knowledge_tag, limit=limit,
                               query_vector=query_vector, synonyms=synonyms)

    def best_answer(self, passages: Sequence[Passage], question: str | None = None) -> str | None:
        kb = self._supervised.current
        return kb.best_answer(passages, question) if kb is not None else None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

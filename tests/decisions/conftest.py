"""Decision tests: the bundled embedder loaded once, in front of it the cache of its vectors of
the labelled messages (`DECISION_VECTORS`: embedding the ~3,000 of them takes minutes on 2 shared
cores; keyed by the exact text, so a message not in it is embedded by the model), and a small
deterministic embedder for the tests that are about the machinery rather than the model."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ai.embedding_cache import CachedEmbedder
from ai.embeddings import LocalE5Embedder
from core.knowledge_types import ScoreThresholds
from core.models import Client
from gateway.decision_eval import Outcome, load_set, run_decisions
from tests.factories import make_client

DECISION_VECTORS = (Path(__file__).resolve().parents[2] / "knowledge" / "eval" / "decisions"
                    / "vectors.local-e5-small-384.npz")


@pytest.fixture(scope="session")
def e5() -> CachedEmbedder:
    """Never saved here: `python -m gateway eval decisions --cache` renews the file."""
    return CachedEmbedder(LocalE5Embedder(), DECISION_VECTORS)


@pytest.fixture(scope="session")
async def held_out(e5: CachedEmbedder) -> list[Outcome]:
    """The held-out split through the production Decider, once per session."""
    return await run_decisions(e5, load_set("held-out"))


class WordsEmbedder:
    """Bag of words hashed into 64 dimensions: texts sharing words are close. Counts calls."""

    dim = 64
    thresholds = ScoreThresholds(search=0.5, answer=0.6, duplicate=0.95)

    def __init__(self, name: str = "words-64") -> None:
        self.name = name
        self.calls: list[list[str]] = []

    def vector(self, text: str) -> list[float]:
        vector = np.zeros(self.dim)
        for word in text.lower().replace("?", " ").replace(",", " ").split():
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        return (vector / (np.linalg.norm(vector) or 1.0)).tolist()

    async def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [self.vector(t) for t in texts]

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return await self.embed_queries(texts)

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def desk_client(db) -> Client:
    """A client with a Telegram desk (requests open handovers), debounce off."""
    return await make_client(db, "decide", debounce_seconds=0, telegram_bot_token="1:test",
                             telegram_chat_id=-1001)

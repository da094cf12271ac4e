"""Search latency of the embedded store over 10,000 fact-sized chunks (goal: p99 under 5 ms).
Random unit vectors, 20 tenants, lexical vectors and sections from synthetic text.

- `store <mode>`: one store query (hybrid = the dense and the lexical branch, both scored);
- `search`: `KnowledgeBase.search` as served, given the question's vector (the decision layer
  embeds a turn once): normalisation, both branches, fusion, confidence, passages. Embedding
  the question with the bundled model comes on top (~10-40 ms on 2 cores);
- `search (again)`: the same questions once more (the hits' payloads cached by the store).

    .venv/bin/python benchmarks/vector_search.py [--chunks 10000] [--queries 500]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ai.embeddings import E5_THRESHOLDS
from core.knowledge import KnowledgeBase, make_payload
from core.knowledge_types import PointRecord, RetrievalMode, SearchQuery
from storage.vectors import EdgeVectorStore

DIM = 384
TENANTS = 20
WORDS = ("маникюр педикюр брови ресницы стрижка окрашивание адрес часы оплата kaspi запись "
         "отмена скидка сертификат парковка гель лак покрытие цена тенге").split()
QUESTION = "сколько стоит маникюр гель лак"


def unit_vector(rng: random.Random) -> list[float]:
    vector = [rng.gauss(0, 1) for _ in range(DIM)]
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector]


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


class NoEmbedder:
    """The benchmark hands the query vector in: nothing is embedded while timing."""

    name = "bench"
    dim = DIM
    thresholds = E5_THRESHOLDS

    async def embed_queries(self, texts: list[str]) -> list[list[float]]:
        raise AssertionError("the benchmark passes query vectors")

    embed_passages = embed_queries

    async def aclose(self) -> None:
        return None


async def timed(label: str, calls: list[Callable[[], Awaitable[object]]]) -> None:
    """Time each call (its arguments are made beforehand, outside the timing): wall time, and
    the process's CPU time, which a machine shared with other work inflates far less."""
    wall, cpu = [], []
    for call in calls:
        started, started_cpu = time.perf_counter(), time.process_time()
        await call()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    for kind, timings in (("wall", sorted(wall)), ("cpu", sorted(cpu))):
        print(f"{label:<16} {kind:<4} median {statistics.median(timings):.2f} ms, "
              f"p95 {timings[int(len(timings) * 0.95)]:.2f} ms, "
              f"p99 {timings[int(len(timings) * 0.99)]:.2f} ms, max {timings[-1]:.2f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as scratch:
        store = EdgeVectorStore(Path(scratch), "bench")
        await store.ensure_collection(DIM)
        points = [
            PointRecord(
                id=str(uuid.UUID(int=rng.getrandbits(128))),
                vector=unit_vector(rng),
                payload=make_payload(f"Услуги > Раздел {i % 40}\n{sentence(rng, 25)}",
                                     f"client{i % TENANTS}", f"doc{i % 300}", "document", None,
                                     section=sentence(rng, 120)),
            )
            for i in range(args.chunks)
        ]
        started = time.perf_counter()
        for start in range(0, len(points), 1000):
            await store.upsert(points[start : start + 1000])
        print(f"ingested {args.chunks} chunks in {time.perf_counter() - started:.1f} s")

        for mode in RetrievalMode:
            queries = [SearchQuery(vector=unit_vector(rng), text=QUESTION,
                                   client_slug=f"client{rng.randrange(TENANTS)}", limit=30,
                                   mode=mode) for _ in range(args.queries)]
            await timed(f"store {mode.value}",
                        [lambda q=q: store.search(q) for q in queries])  # type: ignore[misc]
        kb = KnowledgeBase(NoEmbedder(), store)  # type: ignore[arg-type]
        for tenant in range(TENANTS):
            await kb.lexicon(f"client{tenant}")  # loaded once per client, then cached
        turns = [(f"client{rng.randrange(TENANTS)}", unit_vector(rng)) for _ in range(args.queries)]
        await timed("search (served)", [
            lambda c=c, v=v: kb.search(c, QUESTION, query_vector=v) for c, v in turns])
        # the same questions again: their hits' payloads are in the store's cache now
        await timed("search (again)", [
            lambda c=c, v=v: kb.search(c, QUESTION, query_vector=v) for c, v in turns])
        await store.aclose()


if __name__ == "__main__":
    asyncio.run(main())

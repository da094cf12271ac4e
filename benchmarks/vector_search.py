"""Filtered search latency of the embedded store over 10,000 chunks (PRODUCT.md §7 goal:
well under 5 ms). Random unit vectors, 20 tenants, lexical vectors from synthetic text.

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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.knowledge import make_payload
from core.knowledge_types import PointRecord, RetrievalMode, SearchQuery
from storage.vectors import EdgeVectorStore

DIM = 384
TENANTS = 20
WORDS = ("маникюр педикюр брови ресницы стрижка окрашивание адрес часы оплата kaspi запись "
         "отмена скидка сертификат парковка гель лак покрытие цена тенге").split()


def unit_vector(rng: random.Random) -> list[float]:
    vector = [rng.gauss(0, 1) for _ in range(DIM)]
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector]


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(40))


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
                payload=make_payload(sentence(rng), f"client{i % TENANTS}", f"doc{i % 300}",
                                     "document", None),
            )
            for i in range(args.chunks)
        ]
        started = time.perf_counter()
        for start in range(0, len(points), 1000):
            await store.upsert(points[start : start + 1000])
        print(f"ingested {args.chunks} chunks in {time.perf_counter() - started:.1f} s")
        for mode in RetrievalMode:
            timings = []
            for _ in range(args.queries):
                query = SearchQuery(
                    vector=unit_vector(rng), text="сколько стоит маникюр гель лак",
                    client_slug=f"client{rng.randrange(TENANTS)}", limit=5, mode=mode,
                )
                started = time.perf_counter()
                await store.search(query)
                timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            print(f"{mode.value:<8} median {statistics.median(timings):.2f} ms, "
                  f"p95 {timings[int(len(timings) * 0.95)]:.2f} ms, max {timings[-1]:.2f} ms")
        await store.aclose()


if __name__ == "__main__":
    asyncio.run(main())

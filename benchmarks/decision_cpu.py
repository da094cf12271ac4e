"""CPU of one turn's decision beyond its one embedding call (issue goal: under 5 ms), over the
1,202 labelled messages: the production Decider with the default policy, the bundled
embedder's vectors computed ahead, example vectors ready. Also checks that no decision asks for
more than one embedding.

    .venv/bin/python benchmarks/decision_cpu.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ai.embeddings import LocalE5Embedder
from core.answers import Answerer
from core.decision import Decider
from core.models import InboundMessage
from core.policy import DEFAULT_POLICY
from core.result import Result
from core.semantic import SemanticMatcher
from gateway.decision_eval import PreloadedEmbedder, _context, _NoPrompts, decision_corpus, load_set


class CountingKnowledge:
    """embed_query from the vectors computed ahead (counted); an empty knowledge base."""

    def __init__(self, embedder: PreloadedEmbedder) -> None:
        self._embedder = embedder
        self.embeddings = 0

    async def embed_query(self, text: str) -> list[float]:
        self.embeddings += 1
        return (await self._embedder.embed_queries([text]))[0]

    async def search(self, client_slug: str, query: str, *, knowledge_tag: str | None = None,
                     limit: int = 5, query_vector: Sequence[float] | None = None,
                     synonyms: Sequence[Sequence[str]] = ()) -> Result[list]:
        return Result.success([])

    def best_answer(self, passages: Sequence, question: str | None = None) -> str | None:
        return None


async def main(rounds: int) -> None:
    messages = load_set()
    embedder = PreloadedEmbedder(LocalE5Embedder())
    await embedder.preload([m.text for m in messages])
    knowledge = CountingKnowledge(embedder)
    semantic = SemanticMatcher(embedder, corpus=decision_corpus())
    await semantic.prepare(DEFAULT_POLICY)
    decider = Decider(_NoPrompts(), Answerer(knowledge, None), None, semantic)  # type: ignore[arg-type]
    context = _context(datetime.now(UTC))
    cpu_ms: list[float] = []
    most_embeddings = 0
    for _ in range(rounds):
        for message in messages:
            before = knowledge.embeddings
            started = time.process_time()
            await decider.decide(context, [InboundMessage(str(uuid.uuid4()), "b", message.text)])
            cpu_ms.append((time.process_time() - started) * 1000)
            most_embeddings = max(most_embeddings, knowledge.embeddings - before)
    cpu_ms.sort()
    print(f"{len(cpu_ms)} decisions: CPU median {statistics.median(cpu_ms):.2f} ms, "
          f"p95 {cpu_ms[int(len(cpu_ms) * 0.95)]:.2f} ms, max {cpu_ms[-1]:.2f} ms beyond the "
          f"embedding; at most {most_embeddings} embedding call per decision")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args().rounds))

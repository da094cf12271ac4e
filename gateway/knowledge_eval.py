"""Retrieval quality check: hit@1, hit@5 and MRR of labelled questions, per retrieval mode.

`python -m gateway knowledge eval` ingests knowledge/demo_salon into a temporary embedded store
and prints the numbers for dense, lexical and hybrid retrieval.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.knowledge import KnowledgeBase
from core.knowledge_types import RetrievalMode
from core.ports import Embedder
from storage.vectors import EdgeVectorStore, collection_name

REPOSITORY = Path(__file__).resolve().parent.parent
DEMO_DOCUMENTS = REPOSITORY / "knowledge" / "demo_salon"
DEMO_CASES = REPOSITORY / "knowledge" / "eval" / "demo_salon.yaml"
TOP_K = 5


@dataclass(frozen=True, slots=True)
class EvalCase:
    question: str
    expect: str  # a distinctive substring of the chunk that answers the question


def load_cases(path: Path = DEMO_CASES) -> tuple[str, list[EvalCase]]:
    """The client slug and the cases of a labelled set (knowledge/eval/*.yaml)."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    cases = [EvalCase(str(item["q"]), str(item["expect"])) for item in data["cases"]]
    return str(data["client"]), cases


async def evaluate(
    kb: KnowledgeBase,
    client_slug: str,
    cases: Sequence[EvalCase],
    *,
    mode: RetrievalMode | None = None,
) -> dict[str, float]:
    """hit@1, hit@5 and MRR (over the top 5) of `kb.search` as served, thresholds included.
    A failed search counts as a miss."""
    hits_at_1 = hits_at_5 = 0
    reciprocal_ranks = 0.0
    for case in cases:
        result = await kb.search(client_slug, case.question, limit=TOP_K, mode=mode)
        passages = result.value if result.ok and result.value else []
        rank = next(
            (i for i, p in enumerate(passages, 1) if case.expect.lower() in p.content.lower()),
            None,
        )
        if rank is not None:
            hits_at_1 += rank == 1
            hits_at_5 += 1
            reciprocal_ranks += 1 / rank
    total = max(len(cases), 1)
    return {
        "hit@1": round(hits_at_1 / total, 3),
        "hit@5": round(hits_at_5 / total, 3),
        "mrr": round(reciprocal_ranks / total, 3),
    }


async def ingest_folder(kb: KnowledgeBase, client_slug: str, folder: Path) -> int:
    documents = await asyncio.to_thread(_read_markdown, folder)
    chunks = 0
    for doc_name, text in documents:
        chunks += (await kb.ingest_document(client_slug, doc_name, text)).chunks
    return chunks


def _read_markdown(folder: Path) -> list[tuple[str, str]]:
    return [(p.stem, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.md"))]


async def evaluate_embedder(
    embedder: Embedder,
    *,
    documents: Path = DEMO_DOCUMENTS,
    cases_file: Path = DEMO_CASES,
    modes: Sequence[RetrievalMode] = tuple(RetrievalMode),
) -> dict[str, dict[str, float]]:
    """Ingest `documents` into a scratch embedded store and evaluate every mode."""
    client_slug, cases = load_cases(cases_file)
    with tempfile.TemporaryDirectory(prefix="truffles-eval-") as scratch:
        collection = collection_name("eval", embedder.name, keep_base=False)
        store = EdgeVectorStore(Path(scratch), collection)
        await store.ensure_collection(embedder.dim)
        kb = KnowledgeBase(embedder, store)
        try:
            await ingest_folder(kb, client_slug, documents)
            return {mode.value: await evaluate(kb, client_slug, cases, mode=mode) for mode in modes}
        finally:
            await store.aclose()


def format_table(embedder_name: str, results: dict[str, dict[str, float]]) -> str:
    lines = [f"embedder {embedder_name}", f"{'mode':<8} {'hit@1':>6} {'hit@5':>6} {'mrr':>6}"]
    for mode, metrics in results.items():
        lines.append(
            f"{mode:<8} {metrics['hit@1']:>6.3f} {metrics['hit@5']:>6.3f} {metrics['mrr']:>6.3f}"
        )
    return "\n".join(lines)

"""Fusion of the hybrid search's candidates: one score per fact-sized chunk from the dense
cosine, the lexical (character n-gram) score relative to the best candidate's, the share of the
question's n-grams the chunk holds, and whether its line states the kind of fact asked for
(`core.answer_types`). The weights are calibrated per embedding model on the dev
split of the labelled sets (`ScoreThresholds`, knowledge/README.md): a score-based fusion keeps
the dense model's confidence, which rank fusion (RRF) throws away."""

from __future__ import annotations

from collections.abc import Sequence

from core.answer_types import asked_kinds, kind_match
from core.chunking import split_heading
from core.knowledge_types import ScoreThresholds, SearchHit
from core.lexical import char_ngrams


def fused_score(hit: SearchHit, query_grams: set[str], best_lexical: float,
                asked: frozenset[str], weights: ScoreThresholds) -> float:
    content = str(hit.payload.get("content", ""))
    coverage = len(query_grams & set(char_ngrams(content))) / len(query_grams) \
        if query_grams else 0.0
    relative = hit.lexical / best_lexical if best_lexical > 0 else 0.0
    kinds = kind_match(asked, split_heading(content)[1]) if asked else 0
    return (hit.score + weights.lexical_weight * relative + weights.coverage_weight * coverage
            + weights.kind_weight * kinds)


def fuse(hits: Sequence[SearchHit], question: str, lexical_query: str,
         weights: ScoreThresholds) -> list[SearchHit]:
    """The candidates, best fused score first."""
    grams = set(char_ngrams(lexical_query))
    best = max((hit.lexical for hit in hits), default=0.0)
    asked = asked_kinds(question)
    return sorted(hits, key=lambda hit: fused_score(hit, grams, best, asked, weights),
                  reverse=True)

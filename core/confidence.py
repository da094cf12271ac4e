"""Whether a search found anything the base answers with (`KnowledgeBase.search`'s last check,
see `ScoreThresholds`): a learned answer to this question, or a best chunk the fixed rules keep
that the embedder's no-answer model (`core.no_answer`) does not decline, or, without a model
(or without fusion), that stands out of the candidates by the margin. Dense scores of small
models are compressed (e5: 0.78-0.88 for questions the base cannot answer as for those it can),
knowledge/README.md."""

from __future__ import annotations

from collections.abc import Sequence

from core.answer_types import asked_kinds
from core.knowledge_types import SOURCE_DOCUMENT, SOURCE_LEARNED, ScoreThresholds, SearchHit
from core.no_answer import EXISTENCE, MARGIN_POOL, features
from core.query_text import NormalizedQuery, shares_a_word


def confident(hits: Sequence[SearchHit], query: NormalizedQuery, question: str,
              thresholds: ScoreThresholds) -> bool:
    best = hits[0]
    if hit_source(best) == SOURCE_LEARNED and best.score >= thresholds.learned:
        return True
    if ruled_out(best, query, question, thresholds):
        return False
    model = thresholds.no_answer
    if model is not None and best.fused is not None:
        return not model.declines(features(question, query.dense, hits))
    pool = sorted((hit.score for hit in hits), reverse=True)[:MARGIN_POOL]
    if len(pool) < MARGIN_POOL:
        return True  # too few chunks for the margin to mean anything
    return max(pool) - sum(pool) / len(pool) >= thresholds.margin


def ruled_out(best: SearchHit, query: NormalizedQuery, question: str,
              thresholds: ScoreThresholds) -> bool:
    """Declined whatever else is measured: the best chunk under the answer threshold, or under
    `anchored` sharing no word with the question. With a no-answer model, the second rule only
    holds for a question that asks for no kind of fact and does not ask whether something
    exists (chit-chat such as "расскажи анекдот", which the dev questions do not teach the
    model): an English or Kazakh question about a Russian line shares no word with it, but asks
    a price or a place, or whether the business does a thing, which is what the model weighs
    (on dev, searched under query maps that never saw the base's questions, the rule declined
    48 questions, 11 of them answerable, "do you declaw cats?" among them; with these left to
    the model, both rules together 15, 4 answerable; knowledge/README.md, round 18)."""
    if best.score < thresholds.answer:
        return True
    if best.score >= thresholds.anchored or \
            shares_a_word(query.lexical, str(best.payload.get("content", ""))):
        return False
    return thresholds.no_answer is None or \
        not (asked_kinds(question) or EXISTENCE.search(query.dense))


def hit_source(hit: SearchHit) -> str:
    return str((hit.payload.get("metadata") or {}).get("source", SOURCE_DOCUMENT))

"""Prometheus metrics (served at GET /metrics)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the openai SDK loads only when an LLM is configured
    from ai.llm import LLMCall

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES_IN = Counter("truffles_messages_in_total", "Inbound customer messages accepted",
                      ["channel"], registry=REGISTRY)
TURNS = Counter("truffles_turns_total", "Conversation turns processed, by action", ["action"],
                registry=REGISTRY)
DELIVERIES = Counter("truffles_deliveries_total", "Outbox delivery attempts, by outcome",
                     ["channel", "outcome"], registry=REGISTRY)
LLM_ERRORS = Counter("truffles_degraded_answers_total",
                     "Answers given in a degraded mode, by the failing stage (ai_error, rag_error)",
                     ["kind"], registry=REGISTRY)
STAGE_SECONDS = Histogram("truffles_stage_seconds", "Latency per pipeline stage", ["stage"],
                          registry=REGISTRY,
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
OPEN_HANDOVERS = Gauge("truffles_open_handovers", "Open handovers (pending or active)",
                       registry=REGISTRY)
QUEUE_DEPTH = Gauge("truffles_queue_depth", "Rows waiting, by queue", ["queue"], registry=REGISTRY)
LLM_SECONDS = Histogram("truffles_llm_seconds", "LLM completion latency (retries included), by "
                        "purpose (answer, classify, rerank)", ["purpose"], registry=REGISTRY,
                        buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60))
LLM_TOKENS = Counter("truffles_llm_tokens_total", "Tokens the LLM server reported, by purpose "
                     "and kind (prompt, completion)", ["purpose", "kind"], registry=REGISTRY)
LLM_CALLS = Counter("truffles_llm_calls_total", "LLM completions, by purpose and outcome",
                    ["purpose", "outcome"], registry=REGISTRY)


def record_llm_call(call: LLMCall) -> None:
    """The LLM adapter's observer: latency, token usage and outcome of one completion."""
    LLM_SECONDS.labels(call.purpose).observe(call.seconds)
    LLM_TOKENS.labels(call.purpose, "prompt").inc(call.prompt_tokens)
    LLM_TOKENS.labels(call.purpose, "completion").inc(call.completion_tokens)
    LLM_CALLS.labels(call.purpose, "ok" if call.ok else "error").inc()

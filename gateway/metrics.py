"""Prometheus metrics (served at GET /metrics)."""

from __future__ import annotations

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

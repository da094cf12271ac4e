"""Prometheus metrics (served at GET /metrics): counters and histograms recorded as things
happen (per client where a client is known: clients are few, so the label stays small), and the
gauges read at scrape time (`gateway/scrape.py`). The alert rules in deploy/prometheus/alerts.yml
and the dashboard in deploy/grafana/truffles.json name these; a test checks that every name they
use is here."""

from __future__ import annotations

import gc
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the openai SDK loads only when an LLM is configured
    from ai.llm import LLMCall
    from core.alerts import AlertKind
    from core.pipeline import TurnOutcome
    from scheduler.runner import Job

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from core.decision import Act
from scheduler.jobs import HealReport

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES_IN = Counter("truffles_messages_in_total", "Inbound customer messages accepted",
                      ["client", "channel"], registry=REGISTRY)
TURNS = Counter("truffles_turns_total", "Conversation turns processed, by action (failed: given "
                "up after the last attempt)", ["client", "action"], registry=REGISTRY)
REPLIES = Counter("truffles_replies_total", "Bot replies written to a customer", ["client"],
                  registry=REGISTRY)
ESCALATIONS = Counter("truffles_escalations_total", "Requests handed to the desk by a turn, by "
                      "trigger and policy topic (or intent)", ["client", "trigger", "topic"],
                      registry=REGISTRY)
DELIVERIES = Counter("truffles_deliveries_total", "Outbox delivery attempts, by outcome (sent, "
                     "deferred, retry, failed: given up)", ["client", "channel", "outcome"],
                     registry=REGISTRY)
LLM_ERRORS = Counter("truffles_degraded_answers_total",
                     "Answers given in a degraded mode, by the failing stage (ai_error, rag_error)",
                     ["kind"], registry=REGISTRY)
STAGE_SECONDS = Histogram("truffles_stage_seconds", "Latency per pipeline stage", ["stage"],
                          registry=REGISTRY,
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
LLM_SECONDS = Histogram("truffles_llm_seconds", "LLM completion latency (retries included), by "
                        "purpose (answer, classify, rerank)", ["purpose"], registry=REGISTRY,
                        buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60))
LLM_TOKENS = Counter("truffles_llm_tokens_total", "Tokens the LLM server reported, by purpose "
                     "and kind (prompt, completion)", ["purpose", "kind"], registry=REGISTRY)
LLM_CALLS = Counter("truffles_llm_calls_total", "LLM completions, by purpose and outcome",
                    ["purpose", "outcome"], registry=REGISTRY)
EMBED_SECONDS = Histogram("truffles_embedder_seconds", "Embedder latency per call, by kind "
                          "(query, passage)", ["kind"], registry=REGISTRY,
                          buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30))
EMBED_CALLS = Counter("truffles_embedder_calls_total", "Embedder calls, by kind and outcome",
                      ["kind", "outcome"], registry=REGISTRY)
ALERTS = Counter("truffles_alerts_total", "Operator alerts raised, by kind and outcome (sent, "
                 "deduplicated, rate_limited, failed)", ["kind", "outcome"], registry=REGISTRY)
HEALS = Counter("truffles_heals_total", "Self-heal repairs, by kind", ["kind"], registry=REGISTRY)
GC_FROZEN = Gauge("truffles_gc_frozen_objects", "Objects this process froze out of garbage "
                  "collection once started (gateway/heap.py; 0: not a serving process)",
                  registry=REGISTRY)
GC_FROZEN.set_function(gc.get_freeze_count)
JOB_LAST_SUCCESS = Gauge("truffles_scheduler_last_success_timestamp_seconds",
                         "When each scheduled job last completed in this process (the leader)",
                         ["job"], registry=REGISTRY)
JOB_INTERVAL = Gauge("truffles_scheduler_interval_seconds", "How often each scheduled job runs",
                     ["job"], registry=REGISTRY)
JOB_FAILURES = Counter("truffles_scheduler_failures_total", "Scheduled job runs that failed",
                       ["job"], registry=REGISTRY)


def record_llm_call(call: LLMCall) -> None:
    """The LLM adapter's observer: latency, token usage and outcome of one completion."""
    LLM_SECONDS.labels(call.purpose).observe(call.seconds)
    LLM_TOKENS.labels(call.purpose, "prompt").inc(call.prompt_tokens)
    LLM_TOKENS.labels(call.purpose, "completion").inc(call.completion_tokens)
    LLM_CALLS.labels(call.purpose, "ok" if call.ok else "error").inc()


def record_turn(outcome: TurnOutcome) -> None:
    client = outcome.client_slug
    TURNS.labels(client, outcome.act).inc()
    if outcome.reply:
        REPLIES.labels(client).inc()
    if outcome.act == Act.ESCALATE:
        ESCALATIONS.labels(client, outcome.trigger_type or "", outcome.trigger_value or "").inc()
    for code in outcome.degraded:
        LLM_ERRORS.labels(code).inc()


def record_alert(kind: AlertKind, outcome: str) -> None:
    ALERTS.labels(kind.value, outcome).inc()


def scheduled(job: Job) -> None:
    JOB_INTERVAL.labels(job.name).set(job.every_seconds)


def record_job_run(job: Job, ok: bool, result: Any) -> None:
    """The scheduler's observer: the last success of each job, and what the self-heal fixed
    (a `HealReport`)."""
    if not ok:
        JOB_FAILURES.labels(job.name).inc()
        return
    JOB_LAST_SUCCESS.labels(job.name).set(time.time())
    if isinstance(result, HealReport):
        for kind, count in result.by_kind().items():
            HEALS.labels(str(kind)).inc(count)

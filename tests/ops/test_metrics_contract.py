"""The alert rules (deploy/prometheus/alerts.yml) and the Grafana dashboard
(deploy/grafana/truffles.json) name only metrics the gateway exposes: after one real turn
through the app (a greeting answered, a request for a person escalated), every name in their
expressions is a metric family of `GET /metrics` (or one of its samples: `_total`, `_bucket`,
`_count`, `_sum`), and the per-client series of that turn are there."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes import wait_for
from tests.whatsapp.conftest import post, text_payload

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "truffles.json"
METRIC_NAME = re.compile(r"\btruffles_[a-z0-9_]+")
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
            "gauge": ("",), "summary": ("_count", "_sum", "_created")}


def rule_expressions() -> dict[str, str]:
    document = yaml.safe_load(RULES.read_text("utf-8"))
    return {rule["alert"]: rule["expr"] for group in document["groups"] for rule in group["rules"]}


def dashboard_expressions() -> list[str]:
    document = json.loads(DASHBOARD.read_text("utf-8"))
    exprs = [target["expr"] for panel in document["panels"] for target in panel["targets"]]
    exprs += [variable["query"]["query"] for variable in document["templating"]["list"]
              if isinstance(variable.get("query"), dict)]
    return exprs


def exposed_names(text: str) -> set[str]:
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return None


def test_the_rules_cover_every_condition_operators_alert_on() -> None:
    rules = rule_expressions()
    for alert in ("TrufflesDeskUnreachable", "TrufflesDeliveriesGivenUp", "TrufflesTurnsFailed",
                  "TrufflesBacklogGrowing", "TrufflesOldestItemOld", "TrufflesRequestWithoutCard",
                  "TrufflesRequestWaitingTooLong", "TrufflesNoSchedulerLeader",
                  "TrufflesJobNotRunRecently", "TrufflesLLMErrorRate"):
        assert METRIC_NAME.search(rules[alert]), alert
    assert len(dashboard_expressions()) >= 20


async def test_every_metric_the_rules_and_dashboard_name_exists(start_app, wa_settings, demo,
                                                                 chatflow) -> None:
    app = await start_app(wa_settings)
    before = await (await app.get("/metrics")).text()
    assert (await post(app, text_payload("Здравствуйте", "M-1"))).status == 200
    await wait_for(lambda: chatflow.delivered())
    assert (await post(app, text_payload("Позовите менеджера", "M-2"))).status == 200
    await wait_for(lambda: len(chatflow.delivered()) >= 2)

    async def recorded_sent() -> str | None:
        """The metrics once both sends are recorded: a send is counted after its "sent" row
        commits, which the worker does a moment after ChatFlow has the message."""
        response = await app.get("/metrics")
        assert response.status == 200
        text = await response.text()
        sent = sample(text, "truffles_deliveries_total", client="demo_salon",
                      channel="whatsapp", outcome="sent") or 0
        return text if sent - (sample(before, "truffles_deliveries_total", client="demo_salon",
                                      channel="whatsapp", outcome="sent") or 0) >= 2 else None

    text = await wait_for(recorded_sent)
    exposed = exposed_names(text)
    used = {name for expr in [*rule_expressions().values(), *dashboard_expressions()]
            for name in METRIC_NAME.findall(expr)}
    assert used - exposed == set()
    assert len(used) >= 20

    # the turns' own series, per client (counters are the process's: compared with before)
    def grew(name: str, **labels: str) -> float:
        return (sample(text, name, **labels) or 0) - (sample(before, name, **labels) or 0)

    assert grew("truffles_messages_in_total", client="demo_salon", channel="whatsapp") == 2
    assert grew("truffles_replies_total", client="demo_salon") == 2
    assert grew("truffles_turns_total", client="demo_salon", action="escalate") == 1
    assert grew("truffles_escalations_total", client="demo_salon", trigger="intent",
                topic="human_request") == 1
    assert grew("truffles_deliveries_total", client="demo_salon", channel="whatsapp",
                outcome="sent") == 2
    assert sample(text, "truffles_open_handovers", client="demo_salon", state="pending") == 1
    assert sample(text, "truffles_handovers_without_card", client="demo_salon") == 1
    assert sample(text, "truffles_queue_depth", client="demo_salon", queue="outbox") >= 1
    assert sample(text, "truffles_queue_oldest_age_seconds", client="demo_salon",
                  queue="outbox") > 0
    assert sample(text, "truffles_scheduler_leader") == 1
    assert sample(text, "truffles_scheduler_interval_seconds", job="card_heal") == 60
    # the knowledge base's start-up probe went through the measured embedder
    assert sample(text, "truffles_embedder_calls_total", kind="query", outcome="ok") >= 1

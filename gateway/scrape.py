"""The gauges of `GET /metrics` read at scrape time: queue depths and the age of their oldest
item, failed deliveries, open handovers and the oldest pending one (the database's, the same in
every replica: alert on their max), the Telegram desk each client's deliveries cannot reach
(this process's view) and whether this process leads the scheduler (sum them: one leader).

A collector cannot await, so the route reads everything first (a `Reading`) and the collector
turns it into metric families during the synchronous `generate_latest` call right after. Every
known client gets its zeros, so an alert sees a queue go from 0 to something rather than a
series appear."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from uuid import UUID

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.metrics import REGISTRY
from storage.repositories.gauges import QUEUES, OpsGauges


@dataclass(frozen=True, slots=True)
class Reading:
    gauges: OpsGauges | None  # None: the database could not be read
    desk_unreachable: dict[UUID, float] = field(default_factory=dict)  # client -> seconds
    leader: bool | None = None  # None: no scheduler in this process


# name -> (help, labels) of every family this collector yields
FAMILIES: dict[str, tuple[str, list[str]]] = {
    "truffles_queue_depth": ("Items waiting, by queue (turns: conversations due a turn; inbound: "
                             "customer messages; outbox: deliveries; telegram_updates: desk "
                             "updates not handled yet)", ["queue", "client"]),
    "truffles_queue_oldest_age_seconds": ("Age of the oldest item waiting, by queue (0 when "
                                          "empty)", ["queue", "client"]),
    "truffles_outbox_failed": ("Deliveries given up, kept for the operator",
                               ["client", "channel"]),
    "truffles_open_handovers": ("Open handovers, by state", ["client", "state"]),
    "truffles_handover_oldest_pending_age_seconds": ("How long the oldest pending request has "
                                                     "waited for a manager", ["client"]),
    "truffles_handovers_without_card": ("Pending requests whose card is not in the desk (yet)",
                                        ["client"]),
    "truffles_handover_without_card_oldest_age_seconds": ("How long the oldest pending request "
                                                          "without a card has waited",
                                                          ["client"]),
    "truffles_desk_unreachable_seconds": ("How long every delivery of this process to the "
                                          "client's Telegram desk has failed (0: reachable)",
                                          ["client"]),
    "truffles_scheduler_leader": ("1 when this process runs the scheduled work", []),
}


class ScrapeCollector(Collector):
    def __init__(self) -> None:
        self.reading = Reading(None)

    def collect(self) -> Iterator[Metric]:
        families = {name: GaugeMetricFamily(name, text, labels=labels)
                    for name, (text, labels) in FAMILIES.items()}
        reading = self.reading
        if reading.gauges is not None:
            _fill(families, reading.gauges, reading.desk_unreachable)
        if reading.leader is not None:
            families["truffles_scheduler_leader"].add_metric([], 1.0 if reading.leader else 0.0)
        yield from families.values()


def _fill(families: dict[str, GaugeMetricFamily], gauges: OpsGauges,
          desk_unreachable: dict[UUID, float]) -> None:
    def add(name: str, labels: list[str], value: float) -> None:
        families[name].add_metric(labels, value)

    slugs = gauges.clients
    queues = {(q.queue, q.client_id): q for q in gauges.queues}
    pending = {h.client_id: h for h in gauges.handovers if h.state == "pending"}
    opened = {(h.client_id, h.state): h.open for h in gauges.handovers}
    for client_id, slug in sorted(slugs.items(), key=lambda item: item[1]):
        for name in QUEUES:
            queue = queues.get((name, client_id))
            add("truffles_queue_depth", [name, slug], queue.depth if queue else 0)
            add("truffles_queue_oldest_age_seconds", [name, slug],
                queue.oldest_age_seconds if queue else 0.0)
        for state in ("pending", "active"):
            add("truffles_open_handovers", [slug, state], opened.get((client_id, state), 0))
        waiting = pending.get(client_id)
        add("truffles_handover_oldest_pending_age_seconds", [slug],
            waiting.oldest_age_seconds if waiting else 0.0)
        add("truffles_handovers_without_card", [slug], waiting.without_card if waiting else 0)
        add("truffles_handover_without_card_oldest_age_seconds", [slug],
            waiting.without_card_oldest_age_seconds if waiting else 0.0)
        add("truffles_desk_unreachable_seconds", [slug], desk_unreachable.get(client_id, 0.0))
    for client_id, channel, count in gauges.failed_deliveries:
        if client_id in slugs:
            add("truffles_outbox_failed", [slugs[client_id], channel], count)


COLLECTOR = ScrapeCollector()
REGISTRY.register(COLLECTOR)

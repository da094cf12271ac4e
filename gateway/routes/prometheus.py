"""`GET /metrics`: Prometheus text format, behind a bearer token when METRICS_TOKEN is set.
Queue depths and open handovers are read from the database at scrape time, so every replica
reports the shared truth."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import metrics
from gateway.auth import metrics_refusal
from gateway.keys import DB
from storage.database import UNAVAILABLE
from storage.repositories import stats

routes = web.RouteTableDef()


@routes.get("/metrics")
async def prometheus(request: web.Request) -> web.Response:
    if refusal := metrics_refusal(request):
        return refusal
    try:
        counts = await stats.row_counts(request.config_dict[DB])
    except UNAVAILABLE:
        counts = None
    if counts is not None:
        metrics.OPEN_HANDOVERS.set(counts["open_handovers"])
        metrics.QUEUE_DEPTH.labels("inbound").set(counts["inbound_queue"])
        metrics.QUEUE_DEPTH.labels("outbox").set(counts["outbox_queue"])
        metrics.QUEUE_DEPTH.labels("outbox_failed").set(counts["outbox_failed"])
    body = generate_latest(metrics.REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

"""`GET /metrics`: Prometheus text format, behind a bearer token when METRICS_TOKEN is set. The
gauges of queues and handovers are read from the database at scrape time (`gateway/scrape.py`),
so every replica reports the shared truth."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import scrape
from gateway.auth import metrics_refusal
from gateway.keys import DB, SERVING
from gateway.metrics import REGISTRY
from storage.database import UNAVAILABLE
from storage.repositories import gauges

routes = web.RouteTableDef()


@routes.get("/metrics")
async def prometheus(request: web.Request) -> web.Response:
    if refusal := metrics_refusal(request):
        return refusal
    try:
        reading = await gauges.read(request.config_dict[DB])
    except UNAVAILABLE:
        reading = None
    serving = request.config_dict.get(SERVING)
    scheduler = serving.scheduler if serving else None
    scrape.COLLECTOR.reading = scrape.Reading(
        reading, serving.health.failing_for("telegram") if serving else {},
        scheduler.leadership.is_leader if scheduler else None)
    body = generate_latest(REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

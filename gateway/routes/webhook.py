"""ChatFlow inbound (WIRE.md §1): a thin translation of HTTP to the ChatFlow adapter
(`channels.chatflow.inbound`), which authenticates, parses and stores; the answer goes at once.
No LLM or network work happens here: the turn worker does it."""

from __future__ import annotations

import logging

from aiohttp import web

from channels.chatflow.inbound import WebhookReply
from gateway import metrics
from gateway.errors import answers_chatflow, error_response
from gateway.keys import CHATFLOW, INGEST
from gateway.logs import client_slug_var, conversation_id_var

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


def _secret(request: web.Request) -> str:
    return request.query.get("webhook_secret") or request.headers.get("X-Webhook-Secret") or ""


def _response(reply: WebhookReply) -> web.Response:
    if reply.error is not None:
        return error_response(reply.status, reply.error, reply.message, conversation_id=None)
    if reply.conversation_id is not None:
        conversation_id_var.set(str(reply.conversation_id))
    if reply.event_id is not None:
        metrics.MESSAGES_IN.labels(reply.client_slug or "", "whatsapp").inc()
        log.info("message accepted", extra={"event": reply.event_id})
    return web.json_response({"success": True, "message": reply.message,
                              "conversation_id": str(reply.conversation_id)
                              if reply.conversation_id else None})


@routes.post("/webhook/{client_slug}")
@answers_chatflow
async def chatflow_webhook(request: web.Request) -> web.Response:
    slug = request.match_info["client_slug"]
    client_slug_var.set(slug)
    with request.config_dict[INGEST].handling(), metrics.STAGE_SECONDS.labels("webhook").time():
        reply = await request.config_dict[CHATFLOW].receive(
            slug, _secret(request), request.query.get("instance_id") or None, await request.read())
        return _response(reply)


@routes.post("/webhook")
@answers_chatflow
async def legacy_webhook(request: web.Request) -> web.Response:
    """The legacy wrapped form `{"client_slug": …, "body": {…}}`."""
    with request.config_dict[INGEST].handling():
        reply = await request.config_dict[CHATFLOW].receive(
            None, _secret(request), request.query.get("instance_id") or None, await request.read())
    return _response(reply)


@routes.get("/webhook/{client_slug}")
async def probe(request: web.Request) -> web.Response:
    return web.json_response({"success": True, "message": "ok", "conversation_id": None})

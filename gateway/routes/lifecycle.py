"""Data-lifecycle endpoints of the operator API (issue 14.6), mounted under `/admin`:

POST   /admin/clients/{slug}/suspend | /resume
GET    /admin/clients/{slug}/export[?with_secrets=true]
DELETE /admin/clients/{slug}?confirm={slug}
PATCH  /admin/clients/{slug}/branches/{branch}          {name?, instance_id?, phone?,
                                                         telegram_chat_id?, knowledge_tag?, active?}
GET    /admin/clients/{slug}/customers/{phone}          everything stored about one customer
DELETE /admin/clients/{slug}/customers/{phone}          erase it
GET    /admin/knowledge/{client_slug}/learned[?tag=]    learned answers
GET    /admin/knowledge/{client_slug}/learned/{id}
DELETE /admin/knowledge/{client_slug}/learned/{id}      (its vector too)
POST   /admin/knowledge/{client_slug}/rebuild           the client's vectors made again in place
"""

from __future__ import annotations

from aiohttp import web

from core.knowledge import KnowledgeBase
from core.knowledge_types import EmbeddingError, VectorStoreError
from gateway import lifecycle, tenant_admin
from gateway.errors import error_response
from gateway.keys import DB, KNOWLEDGE, SETTINGS
from gateway.knowledge_ops_cli import learned_json
from gateway.knowledge_rebuild import rebuild_client
from gateway.routes.admin import _object, _refusals
from storage.repositories.knowledge_archive import PgKnowledgeArchive

routes = web.RouteTableDef()
ACTOR = "admin-api"
LEARNED = "/knowledge/{client_slug}/learned"


@routes.post("/clients/{slug}/suspend")
@_refusals
async def suspend(request: web.Request) -> web.Response:
    return web.json_response(await lifecycle.set_status(
        request.config_dict[DB], request.match_info["slug"], "suspended", actor=ACTOR))


@routes.post("/clients/{slug}/resume")
@_refusals
async def resume(request: web.Request) -> web.Response:
    return web.json_response(await lifecycle.set_status(
        request.config_dict[DB], request.match_info["slug"], "active", actor=ACTOR))


@routes.get("/clients/{slug}/export")
@_refusals
async def export_client(request: web.Request) -> web.Response:
    with_secrets = request.query.get("with_secrets", "").lower() in ("1", "true", "yes")
    return web.json_response(await lifecycle.export_client(
        request.config_dict[DB], request.match_info["slug"], request.config_dict[SETTINGS],
        with_secrets=with_secrets))


@routes.delete("/clients/{slug}")
@_refusals
async def delete_client(request: web.Request) -> web.Response:
    slug = request.match_info["slug"]
    if request.query.get("confirm") != slug:
        raise tenant_admin.TenantError(f"deleting a client cannot be undone: repeat its slug "
                                       f"as ?confirm={slug}")
    knowledge = request.config_dict[KNOWLEDGE].current
    try:
        result = await lifecycle.delete_client(request.config_dict[DB], slug, knowledge,
                                               request.config_dict[SETTINGS].data_dir, actor=ACTOR)
    except (lifecycle.KnowledgeUnavailable, VectorStoreError) as exc:
        return error_response(503, "rag_error", str(exc))
    return web.json_response({"success": True, **result})


@routes.patch("/clients/{slug}/branches/{branch}")
@_refusals
async def edit_branch(request: web.Request) -> web.Response:
    branch = await lifecycle.edit_branch(request.config_dict[DB], request.match_info["slug"],
                                         request.match_info["branch"], await _object(request),
                                         actor=ACTOR)
    return web.json_response(tenant_admin.branch_summary(branch))


@routes.get("/clients/{slug}/customers/{phone}")
@_refusals
async def export_customer(request: web.Request) -> web.Response:
    return web.json_response(await lifecycle.export_customer(
        request.config_dict[DB], request.match_info["slug"], request.match_info["phone"]))


@routes.delete("/clients/{slug}/customers/{phone}")
@_refusals
async def erase_customer(request: web.Request) -> web.Response:
    result = await lifecycle.erase_customer(
        request.config_dict[DB], request.match_info["slug"], request.match_info["phone"],
        request.config_dict[SETTINGS].data_dir, actor=ACTOR)
    return web.json_response({"success": True, **result})


@routes.get(LEARNED)
async def list_learned(request: web.Request) -> web.Response:
    answers = await PgKnowledgeArchive(request.config_dict[DB]).learned(
        request.match_info["client_slug"], request.query.get("tag") or None)
    return web.json_response({"success": True, "client_slug": request.match_info["client_slug"],
                              "learned": [learned_json(answer) for answer in answers]})


@routes.get(LEARNED + "/{answer_id}")
async def show_learned(request: web.Request) -> web.Response:
    answer = await PgKnowledgeArchive(request.config_dict[DB]).learned_one(
        request.match_info["client_slug"], request.match_info["answer_id"])
    if answer is None:
        return error_response(404, "not_found", "no such learned answer")
    return web.json_response({"success": True, **learned_json(answer)})


def _knowledge(request: web.Request) -> KnowledgeBase | web.Response:
    kb = request.config_dict[KNOWLEDGE].current
    if kb is None:
        return error_response(503, "rag_error", "the knowledge base is not ready yet; retry later")
    return kb


@routes.delete(LEARNED + "/{answer_id}")
async def delete_learned(request: web.Request) -> web.Response:
    kb = _knowledge(request)
    if isinstance(kb, web.Response):
        return kb
    try:
        found = await kb.forget(request.match_info["client_slug"], request.match_info["answer_id"])
    except VectorStoreError as exc:
        return error_response(503, "rag_error", str(exc))
    if not found:
        return error_response(404, "not_found", "no such learned answer")
    return web.json_response({"success": True, "deleted": request.match_info["answer_id"]})


@routes.post("/knowledge/{client_slug}/rebuild")
async def rebuild(request: web.Request) -> web.Response:
    kb = _knowledge(request)
    if isinstance(kb, web.Response):
        return kb
    try:
        result = await rebuild_client(kb, request.match_info["client_slug"])
    except (EmbeddingError, VectorStoreError) as exc:
        return error_response(503, "rag_error", str(exc))
    return web.json_response({"success": True, **result})

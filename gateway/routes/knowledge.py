"""Admin knowledge endpoints (the hook for n8n's Knowledge Sync), mounted under `/admin`
(`gateway/admin.py`, token-protected); a client slug that names no tenant is refused.

PUT    /admin/knowledge/{client_slug}/documents/{doc_name}   JSON {content, knowledge_tag?},
                                                             or the file itself: text, Markdown,
                                                             HTML, PDF or DOCX (?tag=)
DELETE /admin/knowledge/{client_slug}/documents/{doc_name}
GET    /admin/knowledge/{client_slug}/documents
GET    /admin/knowledge/{client_slug}/search?q=&tag=&limit=
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web

from core import safe_json
from core.knowledge import KnowledgeBase
from core.knowledge_types import EmbeddingError, VectorStoreError
from documents import DocumentFormat, format_for_media_type, sniff_format, to_markdown
from gateway.keys import KNOWLEDGE, TENANTS
from gateway.middlewares import read_file_body, takes_files

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_SEARCH_LIMIT = 20

routes = web.RouteTableDef()
DOCUMENT_PATH = "/knowledge/{client_slug}/documents/{doc_name}"


@web.middleware
async def known_client(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Knowledge of a client that does not exist (a typo in n8n's Knowledge Sync) is refused,
    not stored as orphans."""
    slug = request.match_info.get("client_slug")
    if slug is not None and await request.config_dict[TENANTS].client_by_slug(slug) is None:
        return _error(404, "unknown_client", f"no client {slug!r}")
    return await handler(request)


def _knowledge(request: web.Request) -> KnowledgeBase:
    kb = request.config_dict[KNOWLEDGE].current
    if kb is None:  # still starting, or its embedder / vector store is unreachable
        raise web.HTTPServiceUnavailable(text="the knowledge base is not ready yet; retry later")
    return kb


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"success": False, "error": code, "message": message}, status=status)


async def _read_document(request: web.Request) -> tuple[str, str | None]:
    raw = await read_file_body(request)
    if request.content_type != "application/json":
        return await _convert(request.content_type, raw), request.query.get("tag") or None
    data: Any = safe_json.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("content"), str):
        raise ValueError("JSON body must be an object with a string 'content'")
    tag = data.get("knowledge_tag")
    if tag is not None and not isinstance(tag, str):
        raise ValueError("'knowledge_tag' must be a string")
    return data["content"], tag or None


async def _convert(media_type: str, raw: bytes) -> str:
    """The body as Markdown by its Content-Type; a body of no known type (or a generic one such
    as application/octet-stream) is a PDF or DOCX by its first bytes, else UTF-8 text. Raises
    ValueError (UnreadableDocument) with the reason."""
    document_format = format_for_media_type(media_type) or sniff_format(raw) or DocumentFormat.TEXT
    if document_format in (DocumentFormat.PDF, DocumentFormat.DOCX):  # parsing takes a while
        text = await asyncio.to_thread(to_markdown, raw, document_format)
    else:
        try:
            text = to_markdown(raw, document_format)
        except ValueError:
            if document_format == DocumentFormat.TEXT:
                raise ValueError("the document must be UTF-8 text, or an HTML, PDF or DOCX "
                                 "file") from None
            raise
    return safe_json.clean_text(text)


@routes.put(DOCUMENT_PATH)
@takes_files
async def put_document(request: web.Request) -> web.Response:
    kb = _knowledge(request)
    client_slug, doc_name = request.match_info["client_slug"], request.match_info["doc_name"]
    try:
        content, tag = await _read_document(request)
    except ValueError as exc:  # safe_json.InvalidJSON is a ValueError
        return _error(400, "bad_request", str(exc))
    if not content.strip():
        return _error(400, "bad_request", "document content is empty")
    try:
        report = await kb.ingest_document(client_slug, doc_name, content, knowledge_tag=tag)
    except (EmbeddingError, VectorStoreError) as exc:
        return _error(503, "rag_error", str(exc))
    return web.json_response({
        "success": True, "client_slug": client_slug, "doc_name": doc_name,
        "chunks": report.chunks, "added": report.added, "removed": report.removed,
        "changed": report.changed,
    })


@routes.delete(DOCUMENT_PATH)
async def delete_document(request: web.Request) -> web.Response:
    kb = _knowledge(request)
    client_slug, doc_name = request.match_info["client_slug"], request.match_info["doc_name"]
    try:
        removed = await kb.delete_document(client_slug, doc_name)
    except VectorStoreError as exc:
        return _error(503, "rag_error", str(exc))
    if not removed:
        return _error(404, "not_found", f"no document {doc_name!r} for client {client_slug}")
    return web.json_response({"success": True, "doc_name": doc_name, "chunks_removed": removed})


@routes.get("/knowledge/{client_slug}/documents")
async def list_documents(request: web.Request) -> web.Response:
    kb = _knowledge(request)
    client_slug = request.match_info["client_slug"]
    try:
        documents = await kb.list_documents(client_slug)
    except VectorStoreError as exc:
        return _error(503, "rag_error", str(exc))
    return web.json_response({
        "success": True, "client_slug": client_slug, "documents": [asdict(d) for d in documents]
    })


@routes.get("/knowledge/{client_slug}/search")
async def search(request: web.Request) -> web.Response:
    kb = _knowledge(request)
    client_slug = request.match_info["client_slug"]
    query = request.query.get("q", "").strip()
    if not query:
        return _error(400, "bad_request", "query parameter 'q' is required")
    try:
        limit = int(request.query.get("limit", "5"))
    except ValueError:
        return _error(400, "bad_request", "'limit' must be an integer")
    if not 1 <= limit <= MAX_SEARCH_LIMIT:
        return _error(400, "bad_request", f"'limit' must be between 1 and {MAX_SEARCH_LIMIT}")
    result = await kb.search(
        client_slug, query, knowledge_tag=request.query.get("tag") or None, limit=limit
    )
    if not result.ok:
        return _error(503, result.error_code or "rag_error", result.error or "search failed")
    return web.json_response({
        "success": True, "client_slug": client_slug,
        "passages": [asdict(p) for p in result.value or []],
    })

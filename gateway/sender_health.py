"""What the senders actually see of their peers: a channel whose deliveries keep failing is
degraded in `/ready` (WhatsApp through ChatFlow, the Telegram desk), and a client whose desk has
been unreachable for a while is reported (`unreachable_for`) to the operator's alerts."""

from __future__ import annotations

import time
from dataclasses import dataclass
from uuid import UUID

from core.delivery import Delivery, DeliveryOutcome
from gateway.readiness import Check

FAILURES_BEFORE_DEGRADED = 3


@dataclass
class _Track:
    failures: int = 0
    failing_since: float | None = None  # time.time() of the first failure in a row
    last_error: str | None = None


class SenderHealth:
    def __init__(self) -> None:
        self._channels: dict[str, _Track] = {}
        self._clients: dict[tuple[str, UUID], _Track] = {}

    def record(self, delivery: Delivery, outcome: DeliveryOutcome) -> None:
        """Deferrals and refusals of one message (a 400) say nothing about the peer."""
        if not outcome.ok and (not outcome.consume_attempt or not outcome.retryable):
            return
        for track in (self._channels.setdefault(delivery.channel, _Track()),
                      self._clients.setdefault((delivery.channel, delivery.client_id), _Track())):
            if outcome.ok:
                track.failures, track.failing_since, track.last_error = 0, None, None
            else:
                track.failures += 1
                track.failing_since = track.failing_since or time.time()
                track.last_error = outcome.error

    def check_now(self, channel: str) -> dict[str, object]:
        track = self._channels.get(channel)
        if track is None or track.failures < FAILURES_BEFORE_DEGRADED:
            return {"status": "ok"}
        return {"status": "degraded", "failing_for_seconds": round(time.time() - (track.failing_since or 0)),
                "error": track.last_error}

    def check(self, channel: str) -> Check:
        async def check() -> dict[str, object]:
            return self.check_now(channel)
        return check

    def failing_for(self, channel: str) -> dict[UUID, float]:
        """Seconds each client's deliveries on `channel` have all failed (degraded ones only)."""
        now = time.time()
        return {client_id: now - track.failing_since
                for (name, client_id), track in self._clients.items()
                if name == channel and track.failing_since is not None
                and track.failures >= FAILURES_BEFORE_DEGRADED}

    def unreachable_for(self, channel: str, seconds: float) -> list[tuple[UUID, str | None]]:
        """Clients whose deliveries on `channel` have all failed for at least `seconds`."""
        now = time.time()
        return [(client_id, track.last_error) for (name, client_id), track in self._clients.items()
                if name == channel and track.failing_since is not None
                and track.failures >= FAILURES_BEFORE_DEGRADED and now - track.failing_since >= seconds]

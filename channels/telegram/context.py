"""What the desk's update handlers work with (injected by `middlewares.DeskMiddleware`), and the
desk's timings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from channels.telegram.media import MediaLinks
from core.desk import Desk
from core.knowledge import KnowledgeBase
from core.ports import DeskRecords, Tenants
from core.relay import Relay


@dataclass(frozen=True, slots=True)
class DeskPorts:
    tenants: Tenants
    records: DeskRecords
    desk: Desk
    relay: Relay
    media: MediaLinks
    public_base_url: str | None
    knowledge: Callable[[], KnowledgeBase | None]  # None while the knowledge base is unavailable

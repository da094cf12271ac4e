"""Settings of the scheduled work: how often each pass runs (seconds), and how long a pending
request may be without its card before the self-heal queues it again (minutes)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SchedulerSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    reminders_every: float = 60
    heal_every: float = 300
    card_heal_every: float = 60
    sweep_every: float = 60
    prune_every: float = 3600
    reports_every: float = 60
    leader_check_every: float = 5
    cardless_after_minutes: float = 5
    retention_every: float = 3600
    # MESSAGE_RETENTION_DAYS: message history older than this is deleted (0: kept); a client's
    # own `message_retention_days` overrides it
    message_retention_days: int = 0

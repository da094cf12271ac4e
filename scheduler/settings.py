"""Settings of the scheduled work: how often each pass runs (seconds)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SchedulerSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    reminders_every: float = 60
    heal_every: float = 300
    sweep_every: float = 60
    prune_every: float = 3600
    reports_every: float = 60
    leader_check_every: float = 5

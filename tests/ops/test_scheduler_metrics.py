"""The scheduler's runs as metrics: the last success of each job, its failures, and what the
self-heal repaired, by kind (`truffles_heals_total`)."""

from __future__ import annotations

from core.heal import BreachKind
from gateway import metrics
from scheduler.jobs import HealReport
from scheduler.runner import Job, ScheduledWork


class Leading:
    is_leader = True

    async def check(self) -> bool:
        return True

    async def release(self) -> None:
        return None


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_runs_become_last_success_failures_and_heals_by_kind() -> None:
    async def heal() -> HealReport:
        return HealReport(cards_requeued=2)

    async def broken() -> None:
        raise RuntimeError("boom")

    work = ScheduledWork(Leading(), [Job("metrics_heal", 60, heal), Job("metrics_broken", 60, broken)],
                         on_run=metrics.record_job_run)
    heals = value("truffles_heals_total", kind=BreachKind.CARDLESS_HANDOVER)
    failures = value("truffles_scheduler_failures_total", job="metrics_broken")

    assert isinstance(await work.run_now("metrics_heal"), HealReport)
    assert await work.run_now("metrics_broken") is None

    assert value("truffles_heals_total", kind=BreachKind.CARDLESS_HANDOVER) - heals == 2
    assert value("truffles_scheduler_last_success_timestamp_seconds", job="metrics_heal") > 0
    assert value("truffles_scheduler_last_success_timestamp_seconds", job="metrics_broken") == 0
    assert value("truffles_scheduler_failures_total", job="metrics_broken") - failures == 1

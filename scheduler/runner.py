"""APScheduler (3.x `AsyncIOScheduler`) running the scheduled jobs, on the leader only.

APScheduler's asyncio executor cancels running jobs on shutdown (it cannot honour `wait=True`
without being a coroutine), which could cut a job mid-write. So every run is tracked here and
`stop()` pauses the scheduler, waits for the runs in flight, and only then shuts it down.

An observer (`on_run`) is told of every run this process made (skipped runs of a follower are
not runs): the composition root turns it into the metrics of the last successful pass per job
and of the self-heal's repairs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from core.ports import Leadership

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    every_seconds: float
    run: Callable[[], Awaitable[object]]
    leader_only: bool = True


# Told of each run: (the job, whether it succeeded, what it returned: None when it failed).
RunObserver = Callable[[Job, bool, Any], None]


class ScheduledWork:
    def __init__(self, leadership: Leadership, jobs: Sequence[Job], *,
                 transient: tuple[type[BaseException], ...] = (),
                 on_run: RunObserver | None = None) -> None:
        """`transient`: the storage's errors that mean "unreachable right now" (logged as a
        warning: the next run tries again)."""
        self.leadership = leadership
        self._transient = transient
        self._on_run = on_run
        self._jobs = {job.name: job for job in jobs}
        # APScheduler loads where jobs are scheduled (serving), not in every command that imports
        # the jobs (their module names this one for `Job`).
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._running: set[asyncio.Task[object]] = set()

    async def start(self) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        for job in self._jobs.values():
            self._scheduler.add_job(
                self.run_now, IntervalTrigger(seconds=job.every_seconds), args=[job.name],
                id=job.name, name=job.name, max_instances=1, coalesce=True,
                misfire_grace_time=max(1, int(job.every_seconds)),
            )
        self._scheduler.start()
        log.info("scheduler started", extra={"jobs": ",".join(self._jobs)})

    async def stop(self, *, timeout: float = 30) -> None:
        """No new runs; runs in flight finish (up to `timeout`); the lock is given up."""
        if self._scheduler.running:
            self._scheduler.pause()
        if self._running:
            _, unfinished = await asyncio.wait(set(self._running), timeout=timeout)
            if unfinished:
                log.error("scheduled jobs still running at shutdown", extra={"count": len(unfinished)})
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # the asyncio scheduler shuts down on the next loop turn
        await self.leadership.release()
        log.info("scheduler stopped")

    async def run_now(self, name: str) -> object | None:
        """One run of a job as the scheduler does it: skipped (None) unless this process leads
        (for leader-only jobs); errors are logged, never raised into APScheduler."""
        job = self._jobs[name]
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            if job.leader_only and not await self.leadership.check():
                log.debug("scheduled job skipped: not the leader", extra={"job": name})
                return None
            result = await job.run()
            self._observe(job, True, result)
            return result
        except self._transient as exc:
            log.warning("scheduled job: database unavailable",
                        extra={"job": name, "error": type(exc).__name__})
        except Exception:
            log.exception("scheduled job failed", extra={"job": name})
        finally:
            self._running.discard(task)
        self._observe(job, False, None)
        return None

    @property
    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def _observe(self, job: Job, ok: bool, result: Any) -> None:
        if self._on_run is None:
            return
        try:
            self._on_run(job, ok, result)
        except Exception:  # a metric must never fail a pass
            log.exception("scheduled job observer failed", extra={"job": job.name})

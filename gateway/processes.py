"""`serve --processes N`: N gateway processes on one port (SO_REUSEPORT: the kernel spreads new
connections across them), for a deployment with cores to spare, and the parent that keeps them.

Each child is a whole gateway (`serve --process-index I`, the same app and workers) except that
only process 0, the primary, runs the Telegram bots (polling, setWebhook, the update sweep) and
delivers to Telegram, so one process owns each bot and its rate limits; every process accepts
webhooks, runs turns and delivers WhatsApp messages, and the scheduler already elects one leader
among them. Without QDRANT_URL the primary also owns the embedded vector store (a shard has one
owner) and serves it to the others on a unix socket in DATA_DIR (`gateway/store_service.py`):
every process still embeds, searches and ingests itself, only the store's calls cross.

The parent only supervises: it forwards SIGTERM / SIGINT to every child, starts again a child
that died on its own (after a backoff that grows while it keeps dying), and exits once all have
stopped: 0 when each stopped cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass

from core.waiting import event_or_timeout

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 60.0  # a child that lived this long starts the backoff over
STOP_TIMEOUT_SECONDS = 30.0  # a child's own graceful stop takes up to 15 s (serve's timeout)
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class ProcessSlot:
    """Which of `serve --processes N` this process is; None of it when serving alone."""

    index: int

    @property
    def primary(self) -> bool:
        return self.index == 0


def serve_processes(count: int, host: str, port: int, *, workers: int | None) -> int:
    """Run `count` children until told to stop; `workers`: WORKERS for each child, when the
    operator left it to the default (which is then shared among the children)."""
    env = dict(os.environ)
    if workers is not None:
        env["WORKERS"] = str(workers)
    log.info("starting gateway processes", extra={"processes": count, "host": host, "port": port})
    return asyncio.run(_Supervisor(count, host, port, env).run())


class _Supervisor:
    def __init__(self, count: int, host: str, port: int, env: dict[str, str]) -> None:
        self._count = count
        self._command = [sys.executable, "-m", "gateway", "serve", "--host", host,
                         "--port", str(port), "--supervisor-pid", str(os.getpid())]
        self._env = env
        self._stopping = asyncio.Event()
        self._children: dict[int, asyncio.subprocess.Process] = {}

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stop, signum)
        late = asyncio.create_task(self._kill_the_late())
        try:
            codes = await asyncio.gather(*(self._keep(index) for index in range(self._count)))
        finally:
            late.cancel()
        return 0 if all(code == 0 for code in codes) else 1

    def _stop(self, signum: int) -> None:
        """SIGTERM to every child either way: for a gateway both mean "finish and stop"."""
        log.info("stopping gateway processes", extra={"signal": signal.Signals(signum).name})
        self._stopping.set()
        for child in self._children.values():
            with contextlib.suppress(ProcessLookupError):
                child.terminate()

    async def _kill_the_late(self) -> None:
        await self._stopping.wait()
        await asyncio.sleep(STOP_TIMEOUT_SECONDS)
        for index, child in self._children.items():
            log.error("gateway process did not stop in time; killing it",
                      extra={"process_index": index, "pid": child.pid})
            with contextlib.suppress(ProcessLookupError):
                child.kill()

    async def _keep(self, index: int) -> int:
        """Run child `index` until the parent stops; its last exit code (0 when our SIGTERM
        stopped it)."""
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            started = time.monotonic()
            child = await asyncio.create_subprocess_exec(
                *self._command, "--process-index", str(index), env=self._env,
                start_new_session=True)  # a terminal's Ctrl-C reaches the parent alone
            self._children[index] = child
            if self._stopping.is_set():  # told to stop while it was starting
                child.terminate()
            code = await child.wait()
            del self._children[index]
            if self._stopping.is_set():
                return 0 if code in (0, -signal.SIGTERM) else code
            if time.monotonic() - started >= HEALTHY_AFTER_SECONDS:
                backoff = FIRST_BACKOFF_SECONDS
            log.warning("gateway process exited; starting it again",
                        extra={"process_index": index, "pid": child.pid, "exit_code": code,
                               "restart_in_seconds": backoff})
            if await event_or_timeout(self._stopping, backoff):
                return 0
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


def follow_supervisor(supervisor_pid: int) -> None:
    """In a child: be sent SIGTERM when the parent dies, however it dies (Linux), so no orphan
    keeps the port; exit at once when the parent is already gone."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor_pid:
        raise SystemExit("the supervising process is gone")

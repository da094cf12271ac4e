"""The `Leadership` port on PostgreSQL: one replica runs the schedule, whoever holds a session
advisory lock.

The lock lives as long as the session, so it is held on a dedicated connection (a pooled one
would hand the session, and the lock, to other work or lose it on recycling). `check()` is called
every few seconds and before each job: it confirms the connection still answers, or takes the
lock when free; after a connection loss it drops the connection (the server releases the lock with
the session) and reconnects on the next check. Work items are claimed atomically anyway, so the
short overlap while a dead leader has not noticed yet never sends anything twice.

A network path can also go silent without closing (a half-open TCP connection): every query on
the lock connection is bounded by a timeout, after which the connection is cut and this replica
is no longer the leader. The session is opened with TCP keepalives (and a TCP user timeout), so
the server notices the silent client within about half a minute and frees the lock for another
replica, instead of after the system's default of about two hours."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from storage.database import UNAVAILABLE, connect

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every replica of this deployment.
SCHEDULER_LOCK_KEY = 0x7472756666_5343
QUERY_TIMEOUT_SECONDS = 5.0
# The server drops a session whose client went silent: idle 10 s, then 3 probes 5 s apart; data
# left unacknowledged for 25 s (tcp_user_timeout: PostgreSQL 12+, ignored where the system
# lacks it, and over Unix sockets).
LOCK_SESSION_SETTINGS = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5",
                         "tcp_keepalives_count": "3", "tcp_user_timeout": "25000"}


async def connect_for_lock(dsn: str) -> asyncpg.Connection:
    """A dedicated connection whose session the server ends soon after the client goes silent."""
    return await connect(dsn, server_settings=LOCK_SESSION_SETTINGS)


class Leadership:
    def __init__(self, dsn: str, *, key: int = SCHEDULER_LOCK_KEY,
                 connector: Callable[[str], Awaitable[asyncpg.Connection]] = connect_for_lock,
                 timeout: float = QUERY_TIMEOUT_SECONDS) -> None:
        self._dsn = dsn
        self._key = key
        self._connect = connector
        self._timeout = timeout
        self._conn: asyncpg.Connection | None = None
        self._is_leader = False
        self._lock = asyncio.Lock()  # one query at a time on the lock connection

    @property
    def is_leader(self) -> bool:
        return self._is_leader

    async def check(self) -> bool:
        """True while this process holds the lock (taking it when it is free)."""
        async with self._lock:
            try:
                if self._conn is None or self._conn.is_closed():
                    if self._is_leader:
                        log.warning("scheduler lock connection lost")
                        self._set(False)  # the lock went with the old session
                    async with asyncio.timeout(self._timeout):  # not wait_for: see core.waiting
                        self._conn = await self._connect(self._dsn)
                if self._is_leader:
                    await self._query("SELECT 1")
                    held = True
                else:
                    held = bool(await self._query("SELECT pg_try_advisory_lock($1)", self._key))
            except TimeoutError:
                log.warning("scheduler lock connection not answering, cut",
                            extra={"timeout": self._timeout})
                self._terminate()
                held = False
            except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
                log.warning("scheduler lock connection lost", extra={"error": type(exc).__name__})
                await self._drop_connection()
                held = False
            self._set(held)
            return held

    async def release(self) -> None:
        """Give the lock up (closing the session releases it) so another replica takes over."""
        async with self._lock:
            await self._drop_connection()
            self._set(False)

    async def _query(self, sql: str, *args: object) -> object:
        assert self._conn is not None
        async with asyncio.timeout(self._timeout):
            return await self._conn.fetchval(sql, *args)

    def _terminate(self) -> None:
        """Cut the connection without a word to the server (it may not be listening)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    def _set(self, held: bool) -> None:
        if held != self._is_leader:
            log.info("scheduler leadership acquired" if held else "scheduler leadership lost")
        self._is_leader = held

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        try:
            async with asyncio.timeout(self._timeout):
                await conn.close()
        except (*UNAVAILABLE, asyncpg.PostgresError):
            conn.terminate()

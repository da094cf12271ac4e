"""The leader lock over a network path that goes silent without closing (a half-open TCP
connection): the leader stops believing it leads within the query timeout, and shutting down
does not hang on the dead connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from storage.leader import LOCK_SESSION_SETTINGS, Leadership

TIMEOUT = 0.5


class SilentProxy:
    """A local TCP proxy to PostgreSQL that can stop forwarding in both directions while keeping
    every socket open, as a cable cut behind a NAT would look to both ends."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self.silent = False
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self._writers += [writer, up_writer]
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await src.read(65536):
                if not self.silent:
                    dst.write(data)
                    await dst.drain()
            while self.silent:  # a closed end is not passed on either
                await asyncio.sleep(0.05)
            dst.close()

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def proxy(database_dsn: str) -> AsyncIterator[tuple[SilentProxy, str]]:
    parts = urlsplit(database_dsn)
    if not parts.hostname or "host=" in parts.query:
        pytest.skip("the test database is not reached over TCP")
    silent = SilentProxy(parts.hostname, parts.port or 5432)
    port = await silent.start()
    netloc = f"{parts.username}@127.0.0.1:{port}" if parts.username else f"127.0.0.1:{port}"
    if parts.password:
        netloc = f"{parts.username}:{parts.password}@127.0.0.1:{port}"
    yield silent, urlunsplit(parts._replace(netloc=netloc))
    await silent.close()


async def test_a_silent_network_ends_leadership_within_the_timeout(
        proxy: tuple[SilentProxy, str], caplog: pytest.LogCaptureFixture) -> None:
    silent, dsn = proxy
    leadership = Leadership(dsn, timeout=TIMEOUT)
    try:
        assert await leadership.check() is True
        with caplog.at_level(logging.INFO, logger="storage.leader"):
            silent.silent = True
            started = time.monotonic()
            assert await asyncio.wait_for(leadership.check(), timeout=TIMEOUT * 4) is False
            assert time.monotonic() - started < TIMEOUT * 3
            assert leadership.is_leader is False
            messages = [r.getMessage() for r in caplog.records]
            assert "scheduler leadership lost" in messages
            # Reconnecting over the same dead path is bounded as well.
            assert await asyncio.wait_for(leadership.check(), timeout=TIMEOUT * 4) is False
    finally:
        started = time.monotonic()
        await asyncio.wait_for(leadership.release(), timeout=TIMEOUT * 4)
        assert time.monotonic() - started < TIMEOUT * 3


async def test_release_does_not_hang_on_a_silent_network(proxy: tuple[SilentProxy, str]) -> None:
    silent, dsn = proxy
    leadership = Leadership(dsn, timeout=TIMEOUT)
    assert await leadership.check() is True
    silent.silent = True
    checking = asyncio.create_task(leadership.check())  # stuck on the dead path, holding its lock
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await asyncio.wait_for(leadership.release(), timeout=TIMEOUT * 4)
    assert time.monotonic() - started < TIMEOUT * 3
    assert await checking is False and leadership.is_leader is False


async def test_the_lock_session_asks_the_server_for_keepalives(proxy: tuple[SilentProxy, str]) -> None:
    leadership = Leadership(proxy[1])  # over TCP: a Unix socket session shows no keepalives
    try:
        assert await leadership.check() is True
        conn = leadership._conn
        assert conn is not None
        for name, value in LOCK_SESSION_SETTINGS.items():
            assert await conn.fetchval(f"SELECT current_setting('{name}')") in (value, f"{value}ms")
    finally:
        await leadership.release()

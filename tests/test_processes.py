"""`serve --processes N`: the real command as a subprocess, on a free port, against the test
database: N processes answer on one port, a child that dies is started again, SIGTERM stops
them all and the parent exits 0; with the embedded vector store, each answers from the one the
primary owns."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from aiohttp import ClientError, ClientSession, TCPConnector

from gateway.settings import MAX_DEFAULT_WORKERS, WORKERS_PER_CPU, Settings
from tests.factories import make_client

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 90.0  # two children importing the gateway on a busy 2-core machine
ADMIN_TOKEN = "processes-test-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


Launch = Callable[..., tuple[subprocess.Popen, str]]


@pytest.fixture
def launch(database_dsn: str, db: asyncpg.Pool, tmp_path: Path) -> Iterator[Launch]:
    """Start `serve --processes 2` with these variables over the test's (knowledge on a Qdrant
    server and TEI where nothing listens, so it is retried meanwhile, unless told otherwise)."""
    started: list[subprocess.Popen] = []

    def start(**variables: str) -> tuple[subprocess.Popen, str]:
        port = free_port()
        closed = f"http://127.0.0.1:{free_port()}"
        env = {**os.environ, "DATABASE_URL": database_dsn, "DATA_DIR": str(tmp_path),
               "QDRANT_URL": closed, "EMBEDDINGS_PROVIDER": "tei", "EMBEDDINGS_URL": closed,
               "DEMO_SEED": "false", "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT),
               **variables}
        env.pop("WORKERS", None)
        env = {name: value for name, value in env.items() if value}  # "" unsets
        started.append(subprocess.Popen([sys.executable, "-m", "gateway", "serve",
                                         "--processes", "2", "--port", str(port)],
                                        env=env, cwd=ROOT))
        return started[-1], f"http://127.0.0.1:{port}"

    yield start
    for parent in started:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
            for child in children_of(parent.pid):
                os.kill(child, signal.SIGKILL)


@pytest.fixture
def gateway(launch: Launch) -> tuple[subprocess.Popen, str]:
    return launch()


async def processes_answering(url: str, wanted: set[int], parent: subprocess.Popen) -> None:
    """Ask /health on new connections (each may land on any process) until every wanted
    process index has answered."""
    seen: set[int] = set()
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT
    async with ClientSession(connector=TCPConnector(force_close=True)) as http:
        while not wanted <= seen:
            assert parent.poll() is None, "the supervisor exited"
            assert asyncio.get_running_loop().time() < deadline, f"only {seen} answered"
            try:
                async with http.get(f"{url}/health") as response:
                    body = await response.json()
                    assert response.status == 200 and body["status"] == "ok"
                    seen.add(body["process"])
            except ClientError:
                await asyncio.sleep(0.2)


async def test_processes_share_the_port_restart_and_stop_together(
    gateway: tuple[subprocess.Popen, str],
) -> None:
    parent, url = gateway
    await processes_answering(url, {0, 1}, parent)
    first = children_of(parent.pid)
    assert len(first) == 2

    victim = min(first)
    os.kill(victim, signal.SIGKILL)  # dies without warning: the parent starts another
    await asyncio.sleep(0.5)
    await processes_answering(url, {0, 1}, parent)
    second = children_of(parent.pid)
    assert len(second) == 2 and victim not in second and max(first) in second

    parent.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(parent.wait, 60) == 0
    assert all(not Path(f"/proc/{pid}").exists() for pid in second)


@asynccontextmanager
async def on_process(url: str, index: int, parent: subprocess.Popen) -> AsyncIterator[ClientSession]:
    """A session whose one kept-alive connection is served by process `index`."""
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT
    while True:
        assert parent.poll() is None, "the supervisor exited"
        assert asyncio.get_running_loop().time() < deadline, f"process {index} never answered"
        async with ClientSession(connector=TCPConnector(limit=1), headers=ADMIN) as http:
            try:
                async with http.get(f"{url}/health") as response:
                    if (await response.json()).get("process") == index:
                        yield http
                        return
            except ClientError:
                await asyncio.sleep(0.2)


async def search_on(url: str, index: int, parent: subprocess.Popen, question: str) -> list[dict]:
    """The passages process `index` finds, once its knowledge base is open."""
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT
    async with on_process(url, index, parent) as http:
        while True:
            async with http.get(f"{url}/admin/knowledge/acme/search", params={"q": question}) \
                    as response:
                body = await response.json()
                if response.status == 200:
                    return body["passages"]
            assert asyncio.get_running_loop().time() < deadline, body
            await asyncio.sleep(0.5)


async def test_the_processes_share_the_embedded_vector_store(
    launch: Launch, tmp_path: Path, db: asyncpg.Pool,
) -> None:
    await make_client(db, "acme")
    parent, url = launch(QDRANT_URL="", EMBEDDINGS_PROVIDER="", EMBEDDINGS_URL="",
                         ADMIN_TOKEN=ADMIN_TOKEN)
    assert await search_on(url, 1, parent, "маникюр") == []  # open, through the primary
    async with on_process(url, 1, parent) as http:  # ingested by a secondary: through the socket
        async with http.put(f"{url}/admin/knowledge/acme/documents/prices", json={
                "content": "## Маникюр\nМаникюр классический — 4 000 ₸."}) as response:
            assert response.status == 200, await response.text()
    for index in (0, 1):
        passages = await search_on(url, index, parent, "сколько стоит маникюр?")
        assert passages and "4 000 ₸" in passages[0]["content"], (index, passages)
        async with on_process(url, index, parent) as http, http.get(f"{url}/metrics") as response:
            frozen = [line for line in (await response.text()).splitlines()
                      if line.startswith("truffles_gc_frozen_objects ")]
        assert frozen and float(frozen[0].split()[1]) > 10_000, (index, frozen)  # what start built
    assert (tmp_path / "vector-store.sock").stat().st_mode & 0o777 == 0o600
    parent.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(parent.wait, 60) == 0
    assert not (tmp_path / "vector-store.sock").exists()


def test_workers_default_to_the_machine_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKERS", raising=False)
    cpus = len(os.sched_getaffinity(0))
    assert Settings(_env_file=None).workers == min(MAX_DEFAULT_WORKERS, WORKERS_PER_CPU * cpus)
    monkeypatch.setenv("WORKERS", "3")
    assert Settings(_env_file=None).workers == 3


def test_serve_runs_its_app_on_uvloop() -> None:
    """The serving processes' event loop is uvloop (a dependency on Linux): the same turns cost
    less CPU than on asyncio's own loop (gateway/cli.py)."""
    from gateway.cli import _event_loop

    loop = _event_loop()
    try:
        assert type(loop).__module__.split(".")[0] == "uvloop"
    finally:
        loop.close()

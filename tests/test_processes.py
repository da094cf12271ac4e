"""`serve --processes N`: the real command as a subprocess, on a free port, against the test
database: N processes answer on one port, a child that dies is started again, SIGTERM stops
them all and the parent exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp import ClientError, ClientSession, TCPConnector

from gateway.cli import main
from gateway.settings import MAX_DEFAULT_WORKERS, Settings

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 90.0  # two children importing the gateway on a busy 2-core machine


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


@pytest.fixture
def gateway(database_dsn: str, db: asyncpg.Pool, tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    port = free_port()
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: knowledge is retried meanwhile
    env = {**os.environ, "DATABASE_URL": database_dsn, "DATA_DIR": str(tmp_path),
           "QDRANT_URL": closed, "EMBEDDINGS_PROVIDER": "tei", "EMBEDDINGS_URL": closed,
           "DEMO_SEED": "false", "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    env.pop("WORKERS", None)
    parent = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--processes", "2",
                               "--port", str(port)], env=env, cwd=ROOT)
    yield parent, f"http://127.0.0.1:{port}"
    if parent.poll() is None:
        parent.kill()
        parent.wait()
        for child in children_of(parent.pid):
            os.kill(child, signal.SIGKILL)


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


def test_several_processes_need_a_vector_store_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("QDRANT_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["serve", "--processes", "2"]) == 1
    assert "--processes above 1 needs QDRANT_URL" in capsys.readouterr().err


def test_workers_default_to_the_machine_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKERS", raising=False)
    cpus = len(os.sched_getaffinity(0))
    assert Settings(_env_file=None).workers == min(MAX_DEFAULT_WORKERS, 4 * cpus)
    monkeypatch.setenv("WORKERS", "3")
    assert Settings(_env_file=None).workers == 3

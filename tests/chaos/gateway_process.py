"""`python -m gateway serve` as a child process of the test, on a free port, its output in a
log file: started, waited for (`/health`), killed (SIGKILL) or stopped (SIGTERM), restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GatewayProcess:
    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "gateway.log"
        self._workdir = workdir
        inherited = {k: v for k, v in os.environ.items()
                     if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "OPENBLAS_CORETYPE",
                              "OPENBLAS_L2_SIZE")}
        self._env = {**inherited, "PYTHONPATH": str(ROOT), "HOST": "127.0.0.1",
                     "PORT": str(self.port), "DATA_DIR": str(workdir / "data"),
                     "LOG_FORMAT": "json", "LOG_LEVEL": "WARNING", **env}
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.exit_codes: list[int] = []
        self.stop_seconds: list[float] = []  # from the signal to the exit

    async def start(self, http: aiohttp.ClientSession) -> float:
        """Start and wait until `/health` answers; seconds it took."""
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1}\n".encode())
            log.flush()
            # cwd: a directory without a `.env`, so only this environment configures it
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway", "serve", env=self._env, cwd=self._workdir,
                stdout=log, stderr=log)
        self.starts += 1
        while time.monotonic() - started < START_TIMEOUT:
            if self.process.returncode is not None:
                raise AssertionError(f"the gateway exited during start-up:\n{self.log_tail()}")
            try:
                async with http.get(f"{self.url}/health") as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"the gateway did not start in time:\n{self.log_tail()}")

    async def stop(self, how: signal.Signals) -> int:
        """Send `how` and wait for the exit; the exit code (negative: killed by a signal)."""
        assert self.process is not None
        signalled = time.monotonic()
        if self.process.returncode is None:
            self.process.send_signal(how)
        try:
            code = await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"the gateway did not stop on {how.name}:\n{self.log_tail()}") from None
        self.exit_codes.append(code)
        self.stop_seconds.append(time.monotonic() - signalled)
        return code

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []

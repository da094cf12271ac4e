"""`python -m gateway <command>` (WIRE.md §6). Exit 0 on success, 2 on bad arguments, 1 on failure,
with a one-line human error on stderr."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from collections.abc import Awaitable, Callable

from gateway.logs import setup_logging
from gateway.settings import Settings, SettingsError, load_settings

log = logging.getLogger("gateway")

# The module (in gateway/) that registers each command, in the order `--help` lists them. Only
# the invoked command's module is imported: a one-shot command loads what it uses, not every
# other command's dependencies (the pipeline, numpy, the evaluation sets); `--help` or an
# unknown command loads them all.
COMMAND_MODULES = {
    "client": "tenant_cli", "branch": "tenant_cli", "prompt": "tenant_cli",
    "knowledge": "knowledge_cli", "chat": "chat_cli", "heal": "scheduler_cli",
    "eval": "eval_cli", "reply": "desk_cli", "stats": "desk_cli", "doctor": "doctor_cli",
    "backup": "backup_cli", "restore": "backup_cli", "customer": "lifecycle_cli",
}


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from gateway.app import create_app
    from gateway.heap import configure_for_serving
    from gateway.processes import ProcessSlot, follow_supervisor, serve_processes

    host = args.host or settings.host
    port = args.port or settings.port
    if args.processes > 1:
        # The default WORKERS is for the machine: shared among the processes, so the total (and
        # the PostgreSQL connections) stay the same; a WORKERS the operator set is per process.
        workers = None if "workers" in settings.model_fields_set else \
            max(2, settings.workers // args.processes)
        return serve_processes(args.processes, host, port, workers=workers)
    slot = None
    if args.process_index is not None:
        follow_supervisor(args.supervisor_pid)
        slot = ProcessSlot(args.process_index)
    configure_for_serving()
    loop = _event_loop()
    log.info("starting gateway", extra={"host": host, "port": port, "workers": settings.workers,
                                        "event_loop": type(loop).__module__.split(".")[0],
                                        **({"process_index": slot.index} if slot else {})})
    web.run_app(create_app(settings, process=slot), host=host, port=port, print=None, loop=loop,
                reuse_port=slot is not None, access_log=logging.getLogger("aiohttp.access"),
                shutdown_timeout=15)
    return 0


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (a dependency on Linux and macOS): the same turns cost ~6 %
    less CPU each (benchmarks.run, instant, alternate runs: 4.5-4.6 against 4.8-4.9 ms a turn,
    a burst drained at 177-181 against 168-170 turns/s); asyncio's own loop elsewhere."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _process_count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("must be between 1 and 64")
    return value


async def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from storage.database import database_dsn, migrate

    async with database_dsn(settings.database) as dsn:
        applied = await migrate(dsn)
    print("\n".join(f"applied {name}" for name in applied) or "database is up to date")
    return 0


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `command` (with serve and migrate) when it is one."""
    parser = argparse.ArgumentParser(
        prog="python -m gateway",
        description="Truffles gateway: WhatsApp AI consultant with human handover in Telegram.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway (migrates first)")
    serve.add_argument("--host", help="bind address (default: HOST)")
    serve.add_argument("--port", type=int, help="bind port (default: PORT)")
    serve.add_argument("--processes", type=_process_count, default=1, metavar="N",
                       help="run N gateway processes on the port (SO_REUSEPORT) under one "
                            "supervising process; without QDRANT_URL the first one serves the "
                            "embedded vector store to the others (default 1)")
    # How the supervising process starts each of its children (not for operators).
    serve.add_argument("--process-index", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--supervisor-pid", type=int, help=argparse.SUPPRESS)
    serve.set_defaults(sync_handler=_serve)

    migrate = commands.add_parser("migrate", help="apply pending migrations and exit")
    migrate.set_defaults(handler=_migrate)

    if command in commands.choices:  # serve, migrate: this module's own
        modules = []
    elif command in COMMAND_MODULES:
        modules = [COMMAND_MODULES[command]]
    else:
        modules = list(dict.fromkeys(COMMAND_MODULES.values()))
    for module in modules:
        importlib.import_module(f"gateway.{module}").register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    parser = build_parser(arguments[0] if arguments else None)
    args = parser.parse_args(arguments)  # exits 2 with a usage line on bad arguments
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # The server logs its life at INFO; one-shot commands only speak up when something is wrong,
    # unless LOG_LEVEL asks for more.
    quiet = args.command != "serve" and "log_level" not in settings.model_fields_set
    setup_logging("WARNING" if quiet else settings.log_level, settings.log_format.value)
    try:
        if sync_handler := getattr(args, "sync_handler", None):
            return sync_handler(args, settings)
        handler: Callable[[argparse.Namespace, Settings], Awaitable[int]] = args.handler
        return asyncio.run(handler(args, settings))
    except ValueError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        log.debug("command failed", exc_info=True)
        print(f"error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())

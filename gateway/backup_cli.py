"""`python -m gateway backup DIR` and `restore FILE` (issue 14.4).

A backup is two files in DIR: `truffles-<UTC time>.dump` (pg_dump, custom format: the whole
database, knowledge texts and learned answers included) and `truffles-<UTC time>.json`, its
manifest (checksum, migrations applied, rows per table, gateway version, the embedder and
collection in use). Vectors are not in it: `knowledge rebuild` makes them again from the texts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from gateway.settings import Settings
from storage import backup
from storage.database import connection, database_dsn, migrate
from storage.repositories import inventory
from storage.repositories.knowledge_archive import active_collection

PREFIX = "truffles-"
MANIFEST_FORMAT = "truffles-backup/1"


def register(commands: Any) -> None:
    make = commands.add_parser("backup", help="dump the database into DIR (with a manifest)")
    make.add_argument("directory", type=Path, metavar="DIR")
    make.add_argument("--keep", type=_positive, metavar="N",
                      help="then delete all but the newest N backups in DIR")
    make.add_argument("--json", action="store_true", help="print the manifest")
    make.set_defaults(handler=run_backup)

    back = commands.add_parser("restore", help="restore a backup into the configured database, "
                                               "then migrate (rebuild the vectors afterwards)")
    back.add_argument("file", type=Path, metavar="FILE")
    back.add_argument("--force", action="store_true",
                      help="replace a database that holds data (or is in use by a gateway)")
    back.add_argument("--json", action="store_true", help="print one JSON document")
    back.set_defaults(handler=run_restore)


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def gateway_version() -> str:
    try:
        return metadata.version("truffles-gateway")
    except metadata.PackageNotFoundError:
        return "unknown"


def _knowledge_manifest(settings: Settings) -> dict[str, Any]:
    """The embedder configured (its name and dimension, no network) and its collection."""
    from ai.embeddings import build_embedder
    from storage.vectors import logical_collection

    try:
        embedder = build_embedder(settings.embeddings)
    except Exception as exc:  # misconfigured: the backup is still worth making
        return {"embedder": None, "error": str(exc)}
    return {"embedder": embedder.name, "dim": embedder.dim or None,
            "collection": logical_collection(settings.vectors, embedder.name)}


async def run_backup(args: argparse.Namespace, settings: Settings) -> int:
    directory: Path = args.directory
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot use {directory}: {exc}") from None
    stamp = datetime.now(UTC)
    # milliseconds: two backups in one second (a retry) do not overwrite each other
    dump_path = directory / f"{PREFIX}{stamp:%Y%m%dT%H%M%S}{stamp.microsecond // 1000:03d}Z.dump"
    knowledge = _knowledge_manifest(settings)
    async with database_dsn(settings.database) as dsn:
        async with connection(dsn) as conn:
            major = await inventory.server_major(conn)
            version = await inventory.server_version(conn)
            migrations = await inventory.applied_migrations(conn)
            counts = await inventory.table_counts(conn)
            if knowledge.get("collection"):
                rebuilt = await active_collection(conn, knowledge["collection"]) \
                    if "vector_collections" in counts else None
                knowledge["active_collection"] = rebuilt.active if rebuilt else knowledge["collection"]
        tool = await backup.dump(dsn, dump_path, server_major=major)
    manifest = {
        "format": MANIFEST_FORMAT, "created_at": stamp.isoformat(timespec="seconds"),
        "dump": dump_path.name, "bytes": dump_path.stat().st_size, "sha256": _sha256(dump_path),
        "gateway_version": gateway_version(),
        "database": {"server_version": version, "pg_dump": tool.version},
        "schema": {"latest_migration": migrations[-1] if migrations else None,
                   "migrations": migrations},
        "tables": counts, "knowledge": knowledge,
    }
    manifest_path = dump_path.with_suffix(".json")
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", "utf-8")
    removed = prune_backups(directory, args.keep) if args.keep else []
    if args.json:
        print(json.dumps({**manifest, "deleted": removed}, ensure_ascii=False))
    else:
        print(f"backup {dump_path} ({manifest['bytes']} bytes, {counts.get('clients', 0)} clients, "
              f"{counts.get('messages', 0)} messages)"
              + (f"; deleted {len(removed)} older" if removed else ""))
    return 0


def prune_backups(directory: Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` backups (dump and manifest) in `directory`."""
    dumps = sorted(directory.glob(f"{PREFIX}*.dump"), key=lambda path: path.name, reverse=True)
    removed = []
    for old in dumps[keep:]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
        removed.append(old.name)
    return removed


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(dump_path: Path) -> dict[str, Any] | None:
    """The manifest beside a dump (None when there is none), its checksum verified."""
    manifest_path = dump_path.with_suffix(".json")
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the manifest {manifest_path}: {exc}") from None
    if manifest.get("sha256") and manifest["sha256"] != _sha256(dump_path):
        raise ValueError(f"{dump_path} does not match its manifest's checksum: the file is "
                         "damaged or another one")
    return manifest


async def run_restore(args: argparse.Namespace, settings: Settings) -> int:
    source: Path = args.file
    if not source.is_file():
        raise ValueError(f"no such backup file: {source}")
    manifest = read_manifest(source)
    async with database_dsn(settings.database) as dsn:
        async with connection(dsn) as conn:
            occupied = await inventory.holds_data(conn)
            running = await inventory.gateways_connected(conn)
            if (occupied or running) and not args.force:
                reason = f"it holds data ({', '.join(occupied[:6])})" if occupied else \
                    f"{running} gateway connection(s) use it: stop the gateway first"
                raise ValueError(f"refusing to restore into this database: {reason}; "
                                 "--force replaces it")
            major = await inventory.server_major(conn)
        await backup.restore(dsn, source, server_major=major)
        applied = await migrate(dsn)
        async with connection(dsn) as conn:
            counts = await inventory.table_counts(conn)
    expected = (manifest or {}).get("tables") or {}
    differing = {table: {"backup": rows, "restored": counts.get(table)}
                 for table, rows in expected.items()
                 if table != "schema_migrations" and counts.get(table) != rows}
    result = {"restored": str(source), "migrations_applied": applied, "tables": counts,
              "differing_from_manifest": differing, "manifest": manifest is not None}
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"restored {source}: {counts.get('clients', 0)} clients, "
              f"{counts.get('messages', 0)} messages"
              + (f"; then applied {', '.join(applied)}" if applied else ""))
        if differing:
            print(f"warning: row counts differ from the manifest: {differing}", file=sys.stderr)
        print("next: python -m gateway knowledge rebuild  (the vectors are not in a backup)")
    return 0

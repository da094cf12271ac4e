"""A database of the test's own (a backup test drops and recreates it), and the CLI's handlers
run in-process with the test's settings."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from gateway.cli import build_parser
from gateway.settings import Settings
from storage.database import with_database
from tests.conftest import ADMIN_TOKEN


@dataclass
class OwnDatabase:
    admin: asyncpg.Connection
    name: str
    dsn: str

    async def wipe(self) -> None:
        """Drop the database and create it again, empty."""
        await self.admin.execute(f'DROP DATABASE "{self.name}" WITH (FORCE)')
        await self.admin.execute(f'CREATE DATABASE "{self.name}"')

    def settings(self, data_dir: Path) -> Settings:
        return Settings(_env_file=None, database_url=self.dsn, data_dir=data_dir,
                        admin_token=ADMIN_TOKEN, demo_seed=False, log_format="text")


@pytest.fixture
async def own_database(server_dsn: str) -> AsyncIterator[OwnDatabase]:
    name = f"truffles_ops_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield OwnDatabase(admin, name, with_database(server_dsn, name))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def run_cli(settings: Settings, *argv: str) -> int:
    """One command as `python -m gateway` runs it, without the process around it."""
    args = build_parser().parse_args(list(argv))
    return await args.handler(args, settings)

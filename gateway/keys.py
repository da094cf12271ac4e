"""Typed keys of the aiohttp application state: the registry of what the app holds."""

from __future__ import annotations

import aiohttp
import asyncpg
from aiohttp import web

from core.delivery import Sender
from core.desk import Desk
from core.pipeline import TurnProcessor
from gateway.settings import Settings
from storage.store import PgStore, PgTenants

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", asyncpg.Pool)
DSN = web.AppKey("dsn", str)
STORE = web.AppKey("store", PgStore)
TENANTS = web.AppKey("tenants", PgTenants)
DESK = web.AppKey("desk", Desk)
HTTP = web.AppKey("http_session", aiohttp.ClientSession)
# Outbox senders by channel ("whatsapp", "telegram", …): each adapter registers its own in its
# set-up function, before the outbox worker starts.
SENDERS = web.AppKey("senders", dict[str, Sender])
PROCESSOR = web.AppKey("turn_processor", TurnProcessor)
# Tests set this before start-up to simulate a crash inside a turn (see gateway/turn_worker.py).
TURN_FAULT_HOOK = web.AppKey("turn_fault_hook", object)

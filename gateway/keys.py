"""Typed keys of the aiohttp application state: the registry of what the app holds."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from gateway.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", asyncpg.Pool)
DSN = web.AppKey("dsn", str)

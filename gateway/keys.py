"""Typed keys of the aiohttp application state: every part a route may use, set once by the
app's system context (`gateway/app.py`) from what `build_system` built. Sub-applications
(`/admin`) read them through `request.config_dict`."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from channels.chatflow.inbound import ChatFlowInbound
from channels.telegram.desk import TelegramDesk
from core.desk import Desk
from core.knowledge import KnowledgeBase
from core.pipeline import TurnProcessor
from core.ports import Tenants
from gateway.readiness import Readiness
from gateway.settings import Settings
from scheduler.jobs import SchedulerPorts
from scheduler.runner import ScheduledWork

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", asyncpg.Pool)
TENANTS = web.AppKey("tenants", Tenants)
DESK = web.AppKey("desk", Desk)
PROCESSOR = web.AppKey("turn_processor", TurnProcessor)
KNOWLEDGE = web.AppKey("knowledge", KnowledgeBase)
CHATFLOW = web.AppKey("chatflow_inbound", ChatFlowInbound)
TELEGRAM = web.AppKey("telegram", TelegramDesk)
SCHEDULER_PORTS = web.AppKey("scheduler_ports", SchedulerPorts)
SCHEDULER = web.AppKey("scheduler", ScheduledWork)
READINESS = web.AppKey("readiness", Readiness)

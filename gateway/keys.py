"""Typed keys of the aiohttp application state: every part a route may use, set once by the
app's system context (`gateway/app.py`) from what `build_system` built. Sub-applications
(`/admin`) read them through `request.config_dict`. The types of parts that are imported only
when used (the Telegram desk: aiogram) are named for the type checker alone."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from channels.chatflow.inbound import ChatFlowInbound
from core.desk import Desk
from core.pipeline import TurnProcessor
from core.ports import Tenants
from gateway.ingest_load import IngestLoad
from gateway.processes import ProcessSlot
from gateway.readiness import Readiness
from gateway.settings import Settings
from gateway.supervised import KnowledgeHandle
from scheduler.jobs import SchedulerPorts
from scheduler.runner import ScheduledWork

if TYPE_CHECKING:
    from gateway.doctor_cache import DoctorCache
    from gateway.serving import Serving

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", asyncpg.Pool)
TENANTS = web.AppKey("tenants", Tenants)
DESK = web.AppKey("desk", Desk)
PROCESSOR = web.AppKey("turn_processor", TurnProcessor)
KNOWLEDGE = web.AppKey("knowledge", KnowledgeHandle)
CHATFLOW = web.AppKey("chatflow_inbound", ChatFlowInbound)
INGEST = web.AppKey("ingest_load", IngestLoad)
SERVING: web.AppKey[Serving] = web.AppKey("serving")
SCHEDULER_PORTS = web.AppKey("scheduler_ports", SchedulerPorts)
SCHEDULER = web.AppKey("scheduler", ScheduledWork)
READINESS = web.AppKey("readiness", Readiness)
DOCTOR: web.AppKey[DoctorCache] = web.AppKey("doctor")
PROCESS = web.AppKey("process", ProcessSlot)  # only under `serve --processes N`

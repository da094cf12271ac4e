"""The operator API as a sub-application mounted at `/admin`, with its own middlewares: the
operator token first, then (for knowledge routes) a known client."""

from __future__ import annotations

from aiohttp import web

from gateway.auth import admin_auth_middleware
from gateway.routes import admin, doctor, knowledge, lifecycle


def create_admin_app() -> web.Application:
    app = web.Application(middlewares=[admin_auth_middleware, knowledge.known_client])
    app.add_routes(admin.routes)
    app.add_routes(knowledge.routes)
    app.add_routes(doctor.routes)
    app.add_routes(lifecycle.routes)
    return app

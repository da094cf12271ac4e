"""The aiogram `Dispatcher` of the desk: one for every bot (updates carry the client they came
to), with the routers in the order they must be tried and the desk's middleware."""

from __future__ import annotations

from aiogram import Dispatcher

from channels.telegram.context import DeskPorts
from channels.telegram.handlers import buttons, commands, manager_to_customer, service
from channels.telegram.middlewares import DeskMiddleware

ALLOWED_UPDATES = ["message", "callback_query"]


def build_dispatcher(ports: DeskPorts) -> Dispatcher:
    dispatcher = Dispatcher(name="desk")
    dispatcher.update.outer_middleware(DeskMiddleware(ports))
    # aiogram keeps module-level routers attached to one parent: each dispatcher gets its own
    # copies, so that several (tests, replicas in one process) can coexist.
    dispatcher.include_routers(commands.build(), service.build(), buttons.build(),
                               manager_to_customer.build())
    return dispatcher

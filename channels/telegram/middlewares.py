"""Cross-cutting concerns of update handling, as aiogram middlewares:

- `DeskMiddleware` (outer, on every update): the client the update came to (read fresh, so
  settings changed at run time apply; an update of a client deleted meanwhile is dropped) and
  the desk's ports, handed to handlers by name (`client`, `records`, `desk`, `relay`, `media`,
  `knowledge`, `public_base_url`).
- `ButtonOrigin` (inner, on the buttons router): a press acts only when its handover (or
  conversation) belongs to this bot's client and the button sits in that handover's (or
  conversation's) group; otherwise the manager gets a toast saying why and nothing changes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, TelegramObject

from channels.telegram.callbacks import ConversationButton, HandoverButton, action_of
from channels.telegram.context import DeskPorts
from channels.telegram.toasts import toast
from core.models import Client
from core.ports import DeskRecords
from core.texts import DESK

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class DeskMiddleware(BaseMiddleware):
    def __init__(self, ports: DeskPorts) -> None:
        self._ports = ports

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        client = await self._ports.tenants.client(data["client_id"])
        if client is None:
            return None
        ports = self._ports
        data.update(client=client, records=ports.records, desk=ports.desk, relay=ports.relay,
                    media=ports.media, knowledge=ports.knowledge,
                    public_base_url=ports.public_base_url)
        return await handler(event, data)


class ButtonOrigin(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        button = data.get("callback_data")
        if not isinstance(event, CallbackQuery) or \
                not isinstance(button, HandoverButton | ConversationButton):
            return await handler(event, data)
        client: Client = data["client"]
        if isinstance(button, HandoverButton):
            refusal = await _refusal(data["records"], client, event, button)
            about = {"handover_id": str(button.handover_id)}
        else:
            refusal = await _conversation_refusal(data["records"], client, event, button)
            about = {"conversation_id": str(button.conversation_id)}
        if refusal is None:
            return await handler(event, data)
        log.warning("callback refused", extra={"client": client.slug, "action": action_of(button),
                                               "reason": refusal, **about})
        await toast(event, refusal)
        return None


NOT_FROM_THE_GROUP = "Эта кнопка не из группы заявки"


async def _refusal(records: DeskRecords, client: Client, query: CallbackQuery,
                   button: HandoverButton) -> str | None:
    owner = await records.handover_chat(button.handover_id)
    if owner is None:
        return DESK["not_found"]
    client_id, topic_chat_id = owner
    if client_id != client.id:
        return DESK["foreign"]
    chat_id = query.message.chat.id if query.message is not None else None
    if chat_id is None or chat_id != topic_chat_id:
        return NOT_FROM_THE_GROUP
    return None


async def _conversation_refusal(records: DeskRecords, client: Client, query: CallbackQuery,
                                button: ConversationButton) -> str | None:
    conversation = await records.conversation(button.conversation_id)
    if conversation is None:
        return DESK["conversation_gone"]
    if conversation.client_id != client.id:
        return DESK["foreign_conversation"]
    chat_id = query.message.chat.id if query.message is not None else None
    if chat_id is None or chat_id != await records.group_chat_id(conversation.id):
        return NOT_FROM_THE_GROUP
    return None

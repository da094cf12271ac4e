"""Desk posts that belong to no request, delivered by `TelegramSender` (this is its mixin; it
uses the sender's topic machinery: `_in_topic`, `_text_sender`, `_turn`, `_records`):

- `TopicHistory`: a customer found with `/find` gets their topic (made on demand) with their
  last messages and, while the bot has them, a [Взять диалог] button;
- `OwnerReport`: the daily report in an owner's private chat with the bot, or, when Telegram
  will not deliver there (the owner never pressed Start), in the desk group with a mention."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import LinkPreviewOptions, Message

from channels.telegram import cards
from channels.telegram.errors import describe
from core.delivery import Delivery
from core.models import Client, State
from core.outbound import OwnerReport, TopicHistory
from core.texts import DESK

if TYPE_CHECKING:
    from channels.telegram.sender import TelegramSender

log = logging.getLogger(__name__)
Result = dict[str, Any]
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def _undeliverable_to_owner(exc: TelegramBadRequest | TelegramForbiddenError) -> bool:
    """The owner blocked the bot or never started it (403), or there is no such chat (400)."""
    return isinstance(exc, TelegramForbiddenError) or "chat not found" in exc.message.lower()


class DeskPosts:
    async def _topic_history(self: TelegramSender, bot: Bot, client: Client,
                             delivery: Delivery) -> Result:
        post = delivery.message
        assert isinstance(post, TopicHistory)
        conv = await self._records.conversation(post.conversation_id)
        if conv is None:
            return {"skipped": "conversation no longer exists"}
        name, phone = await self._records.customer_label(conv.id)
        history = await self._records.history(conv.id, cards.TOPIC_HISTORY_LINES)
        markup = cards.take_over_keyboard(conv.id) if conv.state == State.BOT_ACTIVE else None
        message = await self._in_topic(bot, conv.id, self._text_sender(
            bot, cards.history_text(name, phone, history, conv.state), markup=markup))
        return {"message_ids": [message.message_id]}

    async def _owner_report(self: TelegramSender, bot: Bot, client: Client,
                            delivery: Delivery) -> Result:
        report = delivery.message
        assert isinstance(report, OwnerReport)
        try:
            message = await self._send_html(bot, report.chat_id, report.text)
        except (TelegramBadRequest, TelegramForbiddenError) as exc:
            if report.fallback_chat_id is None or not _undeliverable_to_owner(exc):
                raise
            log.info("owner report goes to the desk group",
                     extra={"client": client.slug, "error": describe(exc)})
            note = DESK["report_fallback"].format(
                owner=DESK["owner_mention"].format(owner=report.chat_id))
            message = await self._send_html(bot, report.fallback_chat_id,
                                            f"{note}\n\n{report.text}")
            return {"message_ids": [message.message_id], "chat_id": report.fallback_chat_id}
        return {"message_ids": [message.message_id], "chat_id": report.chat_id}

    async def _send_html(self: TelegramSender, bot: Bot, chat_id: int, text: str) -> Message:
        await self._turn(chat_id)
        return await bot.send_message(chat_id=chat_id, text=text, parse_mode="HTML",
                                      link_preview_options=_NO_PREVIEW)

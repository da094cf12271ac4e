"""Manager → desk: button presses on request cards (take, resolve, return, skip) and the owner's
[📚 В базу]. Every press is answered with a toast. A press is checked before it acts: the
handover must belong to this bot's client and the button must sit in that handover's group;
stale, malformed or foreign presses change nothing."""

from __future__ import annotations

import logging
import re
from uuid import UUID

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, InlineKeyboardMarkup

from channels.telegram.context import DeskContext
from channels.telegram.errors import describe
from core.desk import Action, Actor
from core.models import Client
from core.ports import AuditEntry
from storage.repositories import telegram as repo

log = logging.getLogger(__name__)

LEARN = "learn"
# WIRE.md §2: "{action}:{uuid}", and the older "{action}_{uuid}".
_CALLBACK = re.compile(r"^(take|resolve|return|skip|learn)[:_]([0-9a-fA-F-]{32,36})$")
TOAST_LIMIT = 200


def parse_callback(data: str | None) -> tuple[str, UUID] | None:
    match = _CALLBACK.match(data or "")
    if not match:
        return None
    try:
        return match.group(1), UUID(match.group(2))
    except ValueError:
        return None


def actor_of(query: CallbackQuery) -> Actor:
    user = query.from_user
    return Actor(user.id, user.full_name or user.username or str(user.id))


async def _toast(bot: Bot, query: CallbackQuery, text: str) -> None:
    try:
        await bot.answer_callback_query(callback_query_id=query.id, text=text[:TOAST_LIMIT])
    except TelegramAPIError as exc:  # the press is handled; a lost toast is only cosmetic
        log.info("callback toast not shown", extra={"error": describe(exc)})


async def _refusal(ctx: DeskContext, client: Client, query: CallbackQuery,
                   handover_id: UUID) -> str | None:
    """Why this press must not act, or None when it may."""
    owner = await repo.handover_chat(ctx.pool, handover_id)
    if owner is None:
        return "Заявка не найдена"
    client_id, topic_chat_id = owner
    if client_id != client.id:
        return "Это заявка другого клиента"
    chat_id = query.message.chat.id if query.message is not None else None
    if chat_id is None or chat_id != topic_chat_id:
        return "Эта кнопка не из группы заявки"
    return None


async def handle_callback(ctx: DeskContext, client: Client, bot: Bot, query: CallbackQuery) -> None:
    parsed = parse_callback(query.data)
    if parsed is None:
        await _toast(bot, query, "Кнопка устарела")
        return
    action, handover_id = parsed
    refusal = await _refusal(ctx, client, query, handover_id)
    if refusal is not None:
        log.warning("callback refused", extra={"client": client.slug, "action": action,
                                               "handover_id": str(handover_id), "reason": refusal})
        await _toast(bot, query, refusal)
        return
    if action == LEARN:
        await _toast(bot, query, await _learn(ctx, client, bot, query, handover_id))
        return
    outcome = await ctx.desk.act(Action(action), handover_id, actor_of(query), client_id=client.id)
    await _toast(bot, query, outcome.message)


async def _learn(ctx: DeskContext, client: Client, bot: Bot, query: CallbackQuery,
                 handover_id: UUID) -> str:
    """The owner approves a manager's answer for the knowledge base (PRODUCT.md §7)."""
    if query.from_user.id not in client.settings.owner_telegram_ids:
        return "Добавить в базу может только владелец"
    handover = await repo.handover_by_id(ctx.pool, handover_id)
    if handover is None or not handover.user_message or not handover.manager_response:
        return "Нечего добавить в базу"
    knowledge = ctx.knowledge()
    if knowledge is None:
        return "база знаний недоступна"
    if await repo.learned_before(ctx.pool, handover_id):
        return "Уже в базе"
    try:
        await knowledge.learn(client.slug, handover.user_message, handover.manager_response)
    except Exception:
        log.exception("learning an answer failed", extra={"client": client.slug})
        return "Не удалось добавить в базу, попробуйте позже"
    actor = actor_of(query)
    async with ctx.store.transaction() as tx:
        await tx.audit.record(client.id, AuditEntry(
            actor_type="manager", action=LEARN, actor_id=str(actor.id), actor_name=actor.name,
            handover_id=handover_id, conversation_id=handover.conversation_id))
    if query.message is not None:
        try:
            await bot.edit_message_reply_markup(chat_id=query.message.chat.id,
                                                message_id=query.message.message_id,
                                                reply_markup=InlineKeyboardMarkup(inline_keyboard=[]))
        except TelegramAPIError as exc:
            log.info("learn button not removed", extra={"error": describe(exc)})
    return "📚 Добавлено в базу знаний"

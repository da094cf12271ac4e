"""Manager → desk: presses of the request card's buttons (take, resolve, return, skip), the
owner's [📚 В базу], and the buttons of a customer found with `/find`: [N. name] (their topic with
the history) and, under the history, [Взять диалог] (the manual take-over). Every press is
answered with a toast; where it may come from is checked first (`middlewares.ButtonOrigin`);
stale or malformed presses change nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, InlineKeyboardMarkup

from channels.telegram.callbacks import (
    CARD_ACTIONS,
    HandoverButton,
    Learn,
    LegacyButton,
    OpenHistory,
    Resolve,
    Return,
    Skip,
    Take,
    TakeOver,
    action_of,
)
from channels.telegram.errors import describe
from channels.telegram.middlewares import ButtonOrigin
from channels.telegram.toasts import toast
from core.desk import Action, Actor, Desk
from core.knowledge import KnowledgeBase
from core.models import Client
from core.outbound import TopicHistory
from core.ports import AuditEntry, DeskRecords
from core.texts import DESK

log = logging.getLogger(__name__)
STALE_BUTTON = "Кнопка устарела"


def actor_of(query: CallbackQuery) -> Actor:
    user = query.from_user
    return Actor(user.id, user.full_name or user.username or str(user.id))


async def _act(action: Action, query: CallbackQuery, button: HandoverButton, client: Client,
               desk: Desk) -> None:
    outcome = await desk.act(action, button.handover_id, actor_of(query), client_id=client.id)
    await toast(query, outcome.message)


async def take(query: CallbackQuery, callback_data: Take, client: Client, desk: Desk) -> None:
    await _act(Action.TAKE, query, callback_data, client, desk)


async def resolve(query: CallbackQuery, callback_data: Resolve, client: Client,
                  desk: Desk) -> None:
    await _act(Action.RESOLVE, query, callback_data, client, desk)


async def return_to_bot(query: CallbackQuery, callback_data: Return, client: Client,
                        desk: Desk) -> None:
    await _act(Action.RETURN, query, callback_data, client, desk)


async def skip(query: CallbackQuery, callback_data: Skip, client: Client, desk: Desk) -> None:
    await _act(Action.SKIP, query, callback_data, client, desk)


async def legacy_card_action(query: CallbackQuery, callback_data: HandoverButton, client: Client,
                             desk: Desk) -> None:
    await _act(Action(action_of(callback_data)), query, callback_data, client, desk)


async def learn(query: CallbackQuery, callback_data: Learn, client: Client, bot: Bot,
                records: DeskRecords, knowledge: Callable[[], KnowledgeBase | None]) -> None:
    """The owner approves a manager's answer for the knowledge base (PRODUCT.md §7)."""
    await toast(query, await _learn(query, callback_data, client, bot, records, knowledge()))


async def open_history(query: CallbackQuery, callback_data: OpenHistory, client: Client,
                       records: DeskRecords) -> None:
    """The customer's topic (made on demand) gets their recent history: queued, so that a topic
    made by the delivery is made once, however often the button is pressed."""
    actor = actor_of(query)
    conversation_id = callback_data.conversation_id
    await records.record(client.id, audit=AuditEntry(
        actor_type="manager", action="open_history", actor_id=str(actor.id),
        actor_name=actor.name, conversation_id=conversation_id),
        message=TopicHistory(conversation_id), key=f"history:{conversation_id}:{query.id}")
    await toast(query, DESK["history_sent"])


async def take_over(query: CallbackQuery, callback_data: TakeOver, client: Client,
                    desk: Desk) -> None:
    card = query.message.message_id if query.message is not None else None
    outcome = await desk.take_over(callback_data.conversation_id, actor_of(query),
                                   client_id=client.id, card_message_id=card)
    await toast(query, outcome.message)


async def stale(query: CallbackQuery) -> None:
    await toast(query, STALE_BUTTON)


async def _learn(query: CallbackQuery, button: Learn, client: Client, bot: Bot,
                 records: DeskRecords, knowledge: KnowledgeBase | None) -> str:
    if query.from_user.id not in client.settings.owner_telegram_ids:
        return "Добавить в базу может только владелец"
    handover = await records.handover(button.handover_id)
    if handover is None or not handover.user_message or not handover.manager_response:
        return "Нечего добавить в базу"
    if knowledge is None:
        return "база знаний недоступна"
    if await records.learned_before(handover.id):
        return "Уже в базе"
    try:
        # A branch's answer stays with that branch (its knowledge tag); else the whole client's.
        await knowledge.learn(client.slug, handover.user_message, handover.manager_response,
                              knowledge_tag=await records.knowledge_tag(handover.conversation_id))
    except Exception:
        log.exception("learning an answer failed", extra={"client": client.slug})
        return "Не удалось добавить в базу, попробуйте позже"
    actor = actor_of(query)
    await records.record(client.id, audit=AuditEntry(
        actor_type="manager", action="learn", actor_id=str(actor.id), actor_name=actor.name,
        handover_id=handover.id, conversation_id=handover.conversation_id))
    if query.message is not None:
        try:
            await bot.edit_message_reply_markup(chat_id=query.message.chat.id,
                                                message_id=query.message.message_id,
                                                reply_markup=InlineKeyboardMarkup(inline_keyboard=[]))
        except TelegramAPIError as exc:
            log.info("learn button not removed", extra={"error": describe(exc)})
    return "📚 Добавлено в базу знаний"


def build() -> Router:
    router = Router(name="buttons")
    router.callback_query.middleware(ButtonOrigin())
    router.callback_query.register(take, Take.filter())
    router.callback_query.register(resolve, Resolve.filter())
    router.callback_query.register(return_to_bot, Return.filter())
    router.callback_query.register(skip, Skip.filter())
    router.callback_query.register(legacy_card_action, LegacyButton(*CARD_ACTIONS))
    router.callback_query.register(learn, Learn.filter())
    router.callback_query.register(learn, LegacyButton(Learn))
    router.callback_query.register(open_history, OpenHistory.filter())
    router.callback_query.register(take_over, TakeOver.filter())
    router.callback_query.register(stale)
    return router

"""The outbox sender for channel `telegram`: the desk's messages of `core.outbound`
(`RequestCard`, `CardUpdate`, `UnpinCard`, `TopicMessage`, `Mirror`, `MediaForward`,
`LearnOffer`; `CardRepost`, queued when the topic of a conversation with an open request
is recreated; and, in `posts.py`, `TopicHistory` and `OwnerReport`).

Retries are the outbox's job, so each kind is written to be safe to run again: a step's result is
stored before the next step (topic id, then card message id) and checked before acting, so a
retry after a crash creates no second topic or card. Telegram's answers map to outcomes: 429 →
deferred until `retry_after` (no attempt used; the chat is held back that long); 5xx, network,
auth → retry later; 400 → give up, except "the topic is gone", which recreates the topic and
sends again. When the chat's own send limit (ratelimit.py)
would make a send wait more than a moment, nothing is sent and the row is deferred (without using
up an attempt), so that a busy group does not hold the delivery slots every channel shares."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any
from uuid import UUID

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramRetryAfter
from aiogram.types import InlineKeyboardMarkup, Message, ReplyParameters

from channels.telegram import cards
from channels.telegram.bots import BotRegistry
from channels.telegram.errors import describe
from channels.telegram.posts import DeskPosts
from channels.telegram.ratelimit import ChatRateLimiter, RateLimited
from core.delivery import Delivery, DeliveryOutcome
from core.models import Client
from core.outbound import (
    CardRepost,
    CardUpdate,
    LearnOffer,
    MediaForward,
    Mirror,
    OwnerReport,
    RequestCard,
    TopicHistory,
    TopicMessage,
    UnpinCard,
)
from core.ports import DeliveryProgress, DeskRecords, Tenants

log = logging.getLogger(__name__)

_THREAD_GONE = ("message thread not found", "topic_deleted", "topic_id_invalid",
                "thread not found")
_NOTHING_TO_CHANGE = ("message is not modified", "message to edit not found",
                      "message to unpin not found", "message not found", "message_id_invalid")


class NoDeskGroup(Exception):
    """The client (or branch) has no Telegram group configured."""


def thread_gone(exc: TelegramBadRequest) -> bool:
    return any(marker in exc.message.lower() for marker in _THREAD_GONE)


def _nothing_to_change(exc: TelegramBadRequest) -> bool:
    return any(marker in exc.message.lower() for marker in _NOTHING_TO_CHANGE)


SendInTopic = Callable[[int, int], Awaitable[Message]]
Result = dict[str, Any]


class TelegramSender(DeskPosts):
    def __init__(self, bots: BotRegistry, records: DeskRecords, progress: DeliveryProgress,
                 tenants: Tenants, limiter: ChatRateLimiter) -> None:
        self._bots = bots
        self._records = records
        self._progress = progress
        self._tenants = tenants
        self._limiter = limiter
        self._kinds: dict[type, Callable[[Bot, Client, Delivery], Awaitable[Result]]] = {
            RequestCard: self._request_card,
            CardRepost: self._card_repost,
            CardUpdate: self._card_update,
            UnpinCard: self._unpin_card,
            TopicMessage: self._topic_message,
            Mirror: self._mirror,
            MediaForward: self._media_forward,
            LearnOffer: self._learn_offer,
            TopicHistory: self._topic_history,
            OwnerReport: self._owner_report,
        }

    async def deliver(self, delivery: Delivery) -> DeliveryOutcome:
        client = await self._tenants.client(delivery.client_id)
        if client is None:
            return DeliveryOutcome.failed("client no longer exists", retryable=False)
        bot = self._bots.bot_for(client)
        if bot is None:
            return DeliveryOutcome.failed("client has no Telegram bot token", retryable=False)
        handler = self._kinds.get(type(delivery.message))
        if handler is None:
            return DeliveryOutcome.failed(f"not a Telegram message: {delivery.kind}", retryable=False)
        try:
            return DeliveryOutcome.sent(await handler(bot, client, delivery))
        except TelegramRetryAfter as exc:
            # Telegram's own send limit: nothing went wrong with the row, so it is deferred (no
            # attempt used: a busy group must not turn a request card into `failed`), and the
            # chat is held back until then, so that its other rows wait here instead of each
            # drawing another 429
            chat_id = getattr(exc.method, "chat_id", None)
            if isinstance(chat_id, int):
                self._limiter.block(chat_id, float(exc.retry_after))
            return DeliveryOutcome.deferred(f"Telegram flood control: {describe(exc)}",
                                            retry_after=float(exc.retry_after))
        except TelegramBadRequest as exc:
            return DeliveryOutcome.failed(f"Telegram refused: {describe(exc)}", retryable=False)
        except TelegramAPIError as exc:  # 5xx, network, unauthorized, forbidden: may pass later
            return DeliveryOutcome.failed(f"Telegram {type(exc).__name__}: {describe(exc)}")
        except NoDeskGroup as exc:
            return DeliveryOutcome.failed(str(exc), retryable=False)
        except RateLimited as exc:
            return DeliveryOutcome.deferred(str(exc), retry_after=exc.retry_after)

    # --- topics -------------------------------------------------------------------------------

    async def _ensure_topic(self, bot: Bot, conversation_id: UUID, *,
                            replace: bool = False) -> tuple[int, int]:
        """(group chat id, topic id) of the customer's topic, created on first use and stored
        before anything is posted in it. A topic is made anew when the old one is gone
        (`replace`) or is in another group than the client's (or branch's) group now; either
        way an open request's card is queued again for the new topic."""
        conv = await self._records.conversation(conversation_id)
        if conv is None:
            raise NoDeskGroup("conversation no longer exists")
        chat_id = await self._records.group_chat_id(conversation_id)
        if chat_id is None:
            raise NoDeskGroup("no Telegram group configured for this client or branch")
        if not replace and conv.telegram_topic_id and conv.telegram_chat_id == chat_id:
            return chat_id, conv.telegram_topic_id
        # the group was changed: the card (and its buttons) stayed in the old group, where a
        # press is refused as foreign
        moved = bool(conv.telegram_topic_id) and conv.telegram_chat_id != chat_id
        name, phone = await self._records.customer_label(conversation_id)
        topic = await bot.create_forum_topic(chat_id=chat_id, name=cards.topic_name(name, phone))
        await self._records.set_topic(conversation_id, chat_id, topic.message_thread_id,
                                      repost_card=replace or moved)
        log.info("telegram topic created", extra={"conversation_id": str(conversation_id),
                                                   "replaced": replace, "moved": moved})
        return chat_id, topic.message_thread_id

    async def _in_topic(self, bot: Bot, conversation_id: UUID, send: SendInTopic) -> Message:
        """Post in the customer's topic; when Telegram says the topic is gone, make a new one
        and post there."""
        chat_id, topic_id = await self._ensure_topic(bot, conversation_id)
        try:
            return await send(chat_id, topic_id)
        except TelegramBadRequest as exc:
            if not thread_gone(exc):
                raise
        chat_id, topic_id = await self._ensure_topic(bot, conversation_id, replace=True)
        return await send(chat_id, topic_id)

    async def _turn(self, chat_id: int, slot: float | None = None) -> None:
        """Wait for a turn to send in `chat_id` (a booked `slot`, else the next one); raises
        RateLimited when that is more than a moment away."""
        if slot is not None:
            await self._limiter.sleep_until(slot)
        else:
            await self._limiter.wait_turn(chat_id, max_wait=self._limiter.max_wait)

    def _text_sender(self, bot: Bot, text: str, *, markup: InlineKeyboardMarkup | None = None,
                     reply_to: int | None = None, slot: float | None = None) -> SendInTopic:
        async def send(chat_id: int, topic_id: int) -> Message:
            await self._turn(chat_id, slot)
            return await bot.send_message(
                chat_id=chat_id, message_thread_id=topic_id, text=text, parse_mode="HTML",
                reply_markup=markup,
                reply_parameters=ReplyParameters(message_id=reply_to,
                                                 allow_sending_without_reply=True)
                if reply_to else None,
            )
        return send

    async def _post_pieces(self, bot: Bot, delivery: Delivery, conversation_id: UUID,
                           pieces: list[str], reply_to: int | None = None) -> Result:
        """Post `pieces` in order. Each piece posted is recorded in the row before the next one
        goes, so an attempt after a failure (a 429, a network error) resumes with the first
        piece not posted yet instead of posting the earlier ones again."""
        progress = delivery.progress or {}
        ids: list[int] = [int(i) for i in progress.get("message_ids", [])][: len(pieces)]
        todo = pieces[len(ids):]
        # the turns left are booked before the first of them goes, or none (RateLimited), so
        # that a series is not cut by our own limiter
        slots: list[float | None] = [None] * len(todo)
        if len(todo) > 1 and (chat_id := await self._records.group_chat_id(
                conversation_id)) is not None:
            slots = list(self._limiter.reserve(chat_id, len(todo),
                                               max_wait=self._limiter.max_wait))
        for piece, slot in zip(todo, slots, strict=True):
            message = await self._in_topic(bot, conversation_id, self._text_sender(
                bot, piece, reply_to=None if ids else reply_to, slot=slot))
            ids.append(message.message_id)
            if len(ids) < len(pieces):
                await self._progress.record(delivery.id, {"message_ids": list(ids)})
        return {"message_ids": ids}

    # --- kinds --------------------------------------------------------------------------------

    async def _request_card(self, bot: Bot, client: Client, delivery: Delivery) -> Result:
        message = delivery.message
        assert isinstance(message, RequestCard)
        ctx = await self._records.card_context(message.handover_id)
        if ctx is None:
            return {"skipped": "handover no longer exists"}
        handover = ctx.handover
        if handover.telegram_message_id is None:
            if not handover.is_open:
                return {"skipped": "handover closed before its card was sent"}
            history = await self._records.history(handover.conversation_id, cards.HISTORY_LINES)
            text = cards.card_text(handover, ctx.customer_name, ctx.phone, history)
            card = await self._in_topic(bot, handover.conversation_id, self._text_sender(
                bot, text, markup=cards.card_keyboard(handover.id, handover.status)))
            # a lost write would send a second card on the retry
            await self._records.set_card_message(handover.id, card.message_id)
            chat_id, message_id = card.chat.id, card.message_id
        else:  # sent by an earlier attempt that did not get to pin it
            assert ctx.conversation.telegram_chat_id is not None
            chat_id, message_id = ctx.conversation.telegram_chat_id, handover.telegram_message_id
        return await self._pin(bot, client, chat_id, message_id)

    async def _pin(self, bot: Bot, client: Client, chat_id: int, message_id: int) -> Result:
        try:
            await bot.pin_chat_message(chat_id=chat_id, message_id=message_id,
                                       disable_notification=True)
        except TelegramBadRequest as exc:  # e.g. the bot may not pin: the card is still there
            log.warning("card not pinned", extra={"client": client.slug, "error": describe(exc)})
            return {"message_id": message_id, "pinned": False}
        return {"message_id": message_id, "pinned": True}

    async def _card_repost(self, bot: Bot, client: Client, delivery: Delivery) -> Result:
        """The card of a request still open, again, in the customer's recreated topic: the text
        as now, the buttons of its status (take while pending, resolve once taken), pinned."""
        repost = delivery.message
        assert isinstance(repost, CardRepost)
        ctx = await self._records.card_context(repost.handover_id)
        if ctx is None or not ctx.handover.is_open:
            return {"skipped": "handover closed"}
        handover, conv = ctx.handover, ctx.conversation
        if conv.telegram_topic_id != repost.topic_id:
            return {"skipped": "topic replaced again"}  # that replacement queued its own repost
        if handover.telegram_message_id == repost.old_message_id:
            history = await self._records.history(conv.id, cards.HISTORY_LINES)
            text = cards.card_text(handover, ctx.customer_name, ctx.phone, history)
            card = await self._in_topic(bot, conv.id, self._text_sender(
                bot, text, markup=cards.card_keyboard(handover.id, handover.status)))
            await self._records.set_card_message(handover.id, card.message_id)
            chat_id, message_id = card.chat.id, card.message_id
        else:  # re-posted by an earlier attempt that did not get to pin it
            assert conv.telegram_chat_id is not None and handover.telegram_message_id is not None
            chat_id, message_id = conv.telegram_chat_id, handover.telegram_message_id
        return await self._pin(bot, client, chat_id, message_id)

    async def _card(self, handover_id: UUID) -> tuple[int, int] | None:
        """(chat id, message id) of a handover's card, when it was sent."""
        ctx = await self._records.card_context(handover_id)
        if ctx is None or ctx.handover.telegram_message_id is None:
            return None
        if ctx.conversation.telegram_chat_id is None:
            return None
        return ctx.conversation.telegram_chat_id, ctx.handover.telegram_message_id

    async def _card_update(self, bot: Bot, client: Client, delivery: Delivery) -> Result:
        update = delivery.message
        assert isinstance(update, CardUpdate)
        card = await self._card(update.handover_id)
        if card is None:
            return {"skipped": "no card"}
        markup = cards.card_keyboard(update.handover_id, update.status)
        try:
            await bot.edit_message_reply_markup(chat_id=card[0], message_id=card[1],
                                                reply_markup=markup)
        except TelegramBadRequest as exc:
            if not _nothing_to_change(exc):
                raise
            return {"skipped": describe(exc)}
        return {"status": update.status}

    async def _unpin_card(self, bot: Bot, client: Client, delivery: Delivery) -> Result:
        unpin = delivery.message
        assert isinstance(unpin, UnpinCard)
        card = await self._card(unpin.handover_id)
        if card is None:
            return {"skipped": "no card"}
        try:
            await bot.unpin_chat_message(chat_id=card[0], message_id=card[1])
        except TelegramBadRequest as exc:
            if not _nothing_to_change(exc):
                raise
            return {"skipped": describe(exc)}
        return {"unpinned": card[1]}

    async def _topic_message(self, bot: Bot, client: Client, delivery: Delivery) -> Result:
        note = delivery.message
        assert isinstance(note, TopicMessage)
        pieces = [note.text[: cards.MESSAGE_LIMIT]] if note.html else cards.escaped_pieces(note.text)
        reply_to = None
        if note.reply_to_card and note.handover_id:
            card = await self._card(note.handover_id)
            reply_to = card[1] if card else None
        return await self._post_pieces(bot, delivery, note.conversation_id, pieces, reply_to)

    async def _mirror(self, bot: Bot, client: Client, delivery: Delivery) -> Result:
        mirror = delivery.message
        assert isinstance(mirror, Mirror)
        return await self._post_pieces(bot, delivery, mirror.conversation_id,
                                       cards.mirror_messages(mirror.lines))

    async def _media_forward(self, bot: Bot, client: Client, delivery: Delivery) -> Result:
        forward = delivery.message
        assert isinstance(forward, MediaForward)
        media: dict[str, Any] = forward.media
        url, kind = str(media.get("url") or ""), str(media.get("type") or "document")
        conversation_id = forward.conversation_id
        caption = cards.CUSTOMER_PREFIX + (media.get("caption") or media.get("fileName") or kind)
        caption = escape(caption[:1000])
        senders = {"image": bot.send_photo, "ptt": bot.send_voice, "voice": bot.send_voice,
                   "audio": bot.send_audio}
        send_file = senders.get(kind, bot.send_document)

        async def send(chat_id: int, topic_id: int) -> Message:
            await self._turn(chat_id)
            return await send_file(chat_id, url, message_thread_id=topic_id, caption=caption,
                                   parse_mode="HTML")

        if url and not delivery.progress:  # else: an earlier attempt was posting the note
            try:
                message = await self._in_topic(bot, conversation_id, send)
                return {"message_ids": [message.message_id]}
            except TelegramBadRequest as exc:  # Telegram could not fetch or use the file
                log.info("media forward fell back to a link", extra={"error": describe(exc)})
        note = f"{cards.CUSTOMER_PREFIX}[{kind}] {url or 'файл недоступен'}\n{media.get('caption') or ''}"
        return await self._post_pieces(bot, delivery, conversation_id,
                                       cards.escaped_pieces(note.strip()))

    async def _learn_offer(self, bot: Bot, client: Client, delivery: Delivery) -> Result:
        offer = delivery.message
        assert isinstance(offer, LearnOffer)
        handover = await self._records.handover(offer.handover_id)
        if handover is None or not handover.user_message or not handover.manager_response:
            return {"skipped": "nothing to learn"}
        if not client.settings.owner_telegram_ids:
            return {"skipped": "no owner to approve"}
        text = cards.learn_offer_text(handover.user_message, handover.manager_response,
                                      client.settings.owner_telegram_ids)
        message = await self._in_topic(bot, handover.conversation_id, self._text_sender(
            bot, text, markup=cards.learn_keyboard(handover.id)))
        return {"message_ids": [message.message_id]}

"""Manager → customer: a message written in a customer's topic goes to the customer's WhatsApp
(`core.relay`). Messages of bots, the General topic and topics that belong to no customer are
ignored (commands and service messages never get here: `service.py`); an anonymous admin of the
group counts as a manager. Photos, voice notes, audio, documents and videos are downloaded and
offered to the WhatsApp provider through a signed link."""

from __future__ import annotations

import logging
from pathlib import PurePath

import aiohttp
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message

from channels.telegram.errors import describe
from channels.telegram.media import MediaLinks
from core.desk import Actor
from core.models import Client
from core.outbound import TopicMessage
from core.ports import DeskRecords
from core.relay import ManagerMedia, ManagerMessage, Relay
from core.texts import DESK

log = logging.getLogger(__name__)


def _attachment(message: Message) -> tuple[str, str, str] | None:
    """(Telegram file id, ChatFlow media type, file suffix) of a relayable attachment."""
    if message.photo:
        return message.photo[-1].file_id, "image", ".jpg"
    if message.voice:
        return message.voice.file_id, "audio", ".ogg"
    if message.audio:
        return message.audio.file_id, "audio", PurePath(message.audio.file_name or "a.mp3").suffix
    if message.video:
        return message.video.file_id, "video", ".mp4"
    if message.document:
        return message.document.file_id, "document", \
            PurePath(message.document.file_name or "file").suffix
    return None


def manager_of(message: Message) -> Actor | None:
    """Who wrote `message` as the desk's manager: a person, or an anonymous admin of the group
    (Telegram shows them as GroupAnonymousBot with the group itself as `sender_chat`; they are
    named by their signature, else the group's title, and identified by the group's id, so that
    a request they take has an assignee). None for bots, including this one, and channels."""
    user = message.from_user
    if user is None:
        return None
    if not user.is_bot:
        return Actor(user.id, user.full_name or user.username or str(user.id))
    chat = message.sender_chat
    if chat is not None and chat.id == message.chat.id:
        return Actor(chat.id, message.author_signature or message.chat.title or "Администратор")
    return None


async def manager_message(message: Message, client: Client, bot: Bot, records: DeskRecords,
                          relay: Relay, media: MediaLinks, public_base_url: str | None) -> None:
    manager = manager_of(message)
    if manager is None or not message.message_thread_id:
        return
    text = message.text or message.caption or ""
    attachment = _attachment(message)
    if not text.strip() and attachment is None:
        return
    conv = await records.conversation_by_topic(client.id, message.chat.id,
                                               message.message_thread_id)
    if conv is None:
        return
    published = None
    if attachment is not None:
        published = await _publish(media, public_base_url, bot, attachment, client.id.hex)
        if published is None:
            await records.record(conv.client_id, message=TopicMessage(
                conv.id, DESK["file_not_delivered"]),
                key=f"tg-note:{message.chat.id}:{message.message_id}")
            if not text.strip():
                return
    outcome = await relay.manager_to_customer(ManagerMessage(
        conversation_id=conv.id, source_key=f"{message.chat.id}:{message.message_id}",
        manager=manager,
        text=text, media=published))
    log.info("manager message relayed" if outcome.relayed else "manager message not relayed",
             extra={"client": client.slug, "conversation_id": str(conv.id),
                    "reason": outcome.reason, "auto_taken": outcome.auto_taken})


async def _publish(media: MediaLinks, public_base_url: str | None, bot: Bot,
                   attachment: tuple[str, str, str], owner: str) -> ManagerMedia | None:
    """Download the file and give it a signed, expiring public URL; None when that is impossible
    (no PUBLIC_BASE_URL, Telegram would not give the file, its download failed or timed out, the
    disk refused it): the caller then tells the manager and still relays the text."""
    file_id, media_type, suffix = attachment
    if not public_base_url:
        log.warning("manager media not relayed: PUBLIC_BASE_URL is not set")
        return None
    path = media.new_path(suffix, owner)
    try:
        await bot.download(file_id, destination=path)
    except TelegramAPIError as exc:
        log.warning("manager media download failed", extra={"error": describe(exc)})
        path.unlink(missing_ok=True)
        return None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        # the file server's answer (404, 5xx: ClientResponseError), a cut connection, a slow
        # download, a full disk: the rest of the message must not be lost with the file
        log.warning("manager media download failed", extra={"error": describe(exc)})
        path.unlink(missing_ok=True)
        return None
    return ManagerMedia(media_type, f"{public_base_url}/media/{media.token(path)}")


def build() -> Router:
    router = Router(name="manager_to_customer")
    router.message.register(manager_message, F.is_topic_message, F.message_thread_id)
    return router

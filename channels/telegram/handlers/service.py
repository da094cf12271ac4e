"""Messages in the desk group that are not for the customer: bot commands and service messages
(topic created or renamed, pins, members joining). Handled here, first, so that they never reach
the relay."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message

SERVICE_FIELDS = (F.forum_topic_created | F.forum_topic_edited | F.forum_topic_closed
                  | F.forum_topic_reopened | F.pinned_message | F.new_chat_members
                  | F.left_chat_member | F.new_chat_title | F.new_chat_photo
                  | F.delete_chat_photo | F.general_forum_topic_hidden
                  | F.general_forum_topic_unhidden | F.write_access_allowed)


async def command(message: Message) -> None:
    """A command that is not the desk's (`commands.py`): never relayed to the customer."""


async def service_message(message: Message) -> None:
    """Telegram's own notices in the group."""


def build() -> Router:
    router = Router(name="service")
    router.message.register(command, F.text.startswith("/"))
    router.message.register(service_message, SERVICE_FIELDS)
    return router

"""The buttons of the desk as aiogram `CallbackData`: `{action}:{handover_id}` (WIRE.md §2), with
the handover id in its canonical dashed form, and `{action}:{conversation_id}` for the buttons
of a customer found with `/find` (`open`, `takeover`). The older `{action}_{uuid}` form, still on cards
posted by earlier versions, is read by `LegacyButton`."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from aiogram.filters import Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery


class _WithUUID(CallbackData, prefix="uuid"):
    def _encode_value(self, key: str, value: Any) -> str:
        return str(value) if isinstance(value, UUID) else super()._encode_value(key, value)


class HandoverButton(_WithUUID, prefix="handover"):
    handover_id: UUID


class Take(HandoverButton, prefix="take"):
    pass


class Resolve(HandoverButton, prefix="resolve"):
    pass


class Return(HandoverButton, prefix="return"):
    pass


class Skip(HandoverButton, prefix="skip"):
    pass


class Learn(HandoverButton, prefix="learn"):
    """The owner adds a resolved request's answer to the knowledge base."""


class ConversationButton(_WithUUID, prefix="conversation"):
    """A button about a customer's conversation rather than a request."""

    conversation_id: UUID


class OpenHistory(ConversationButton, prefix="open"):
    """A customer picked from `/find`: their topic, with the recent history."""


class TakeOver(ConversationButton, prefix="takeover"):
    """[Взять диалог]: the manager takes the conversation from the bot."""


CARD_ACTIONS: tuple[type[HandoverButton], ...] = (Take, Resolve, Return, Skip)
_BY_PREFIX = {cls.__prefix__: cls for cls in (*CARD_ACTIONS, Learn)}
_LEGACY = re.compile(r"^(take|resolve|return|skip|learn)_([0-9a-fA-F-]{32,36})$")


def action_of(button: HandoverButton | ConversationButton) -> str:
    return button.__prefix__


class LegacyButton(Filter):
    """`{action}_{uuid}`: the same buttons, in the form of the first cards."""

    def __init__(self, *classes: type[HandoverButton]) -> None:
        self._prefixes = {cls.__prefix__ for cls in classes}

    async def __call__(self, query: CallbackQuery) -> bool | dict[str, Any]:
        match = _LEGACY.match(query.data or "")
        if match is None or match.group(1) not in self._prefixes:
            return False
        try:
            handover_id = UUID(match.group(2))
        except ValueError:
            return False
        return {"callback_data": _BY_PREFIX[match.group(1)](handover_id=handover_id)}

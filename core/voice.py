"""Customer voice notes. With a transcriber configured, a voice note is transcribed before its
turn is decided and goes through the pipeline as text (`InboundMessage.transcribed`), shown to
the manager marked as a transcript. Without one, or when transcription fails, it stays a voice
note: forwarded to the customer's topic when they have one, and answered with the "please write"
template only when no person is involved (the decision's business)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence

from core.models import InboundMessage
from core.ports import Transcriber
from core.texts import DESK

log = logging.getLogger(__name__)

VOICE_TYPES = frozenset({"ptt", "audio"})
TRANSCRIPT_LIMIT = 4096  # as much as a typed message may hold


def is_voice(message: InboundMessage) -> bool:
    return message.message_type in VOICE_TYPES


def unheard(message: InboundMessage) -> bool:
    """A voice note nobody could turn into text."""
    return is_voice(message) and not message.transcribed and not message.text.strip()


async def transcribe_voices(transcriber: Transcriber | None,
                            messages: Sequence[InboundMessage]) -> list[InboundMessage]:
    """The messages with each voice note's text set to its transcript (where that worked). The
    notes of a burst are transcribed at once, so that the turn waits for the slowest only."""
    if transcriber is None or not any(unheard(m) for m in messages):
        return list(messages)
    return list(await asyncio.gather(*(_transcribed(transcriber, m) for m in messages)))


async def _transcribed(transcriber: Transcriber, message: InboundMessage) -> InboundMessage:
    media = message.media or {}
    url, mimetype = media.get("url"), media.get("mimetype")
    if not unheard(message) or not isinstance(url, str) or not url:
        return message
    result = await transcriber.transcribe(url, mimetype=mimetype if isinstance(mimetype, str)
                                          else None)
    transcript = (result.value or "").strip() if result.ok else ""
    if not transcript:
        log.warning("voice note not transcribed", extra={"error": result.error or "empty"})
        return message
    return dataclasses.replace(message, text=transcript[:TRANSCRIPT_LIMIT], transcribed=True)


def mirror_line(message: InboundMessage) -> str:
    """How a customer's text shows in their topic: a transcript says it is one."""
    return DESK["transcript_line"].format(text=message.text) if message.transcribed \
        else message.text

"""Speech to text for customer voice notes (`core.ports.Transcriber`): the audio is fetched from
the provider's media link and sent to an OpenAI-compatible `/v1/audio/transcriptions` (OpenAI's
whisper-1 or gpt-4o-transcribe, a self-hosted whisper server, …) through the `openai` SDK.
Failures are answered as a `Result`, never raised: the voice note then stays a voice note."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import aiohttp
import openai

from ai.openai_client import async_openai
from ai.settings import TranscriptionSettings
from core.result import Result

log = logging.getLogger(__name__)

MAX_AUDIO_BYTES = 25 * 1024 * 1024  # OpenAI's upload limit; a voice note is a few hundred kB
_CHUNK = 64 * 1024
# File names tell the endpoint the format; WhatsApp voice notes are Ogg/Opus.
_SUFFIXES = {"audio/ogg": ".ogg", "audio/opus": ".ogg", "audio/mpeg": ".mp3", "audio/mp3": ".mp3",
             "audio/mp4": ".m4a", "audio/m4a": ".m4a", "audio/x-m4a": ".m4a", "audio/aac": ".m4a",
             "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/webm": ".webm",
             "audio/flac": ".flac"}


class _Unfetchable(Exception):
    """The audio could not be fetched (the message says why)."""


def _file_name(mimetype: str | None) -> tuple[str, str]:
    """(file name, content type) to upload the audio as."""
    base = (mimetype or "audio/ogg").split(";")[0].strip().lower()
    return "voice" + _SUFFIXES.get(base, ".ogg"), base if base in _SUFFIXES else "audio/ogg"


class OpenAITranscriber:
    def __init__(self, settings: TranscriptionSettings, *,
                 max_bytes: int = MAX_AUDIO_BYTES) -> None:
        key = settings.api_key.get_secret_value() if settings.api_key else None
        self._client = async_openai(api_key=key, base_url=settings.base_url,
                                    timeout=settings.timeout_seconds, max_retries=1)
        self._model = settings.model or ""
        self._timeout = settings.timeout_seconds
        self._max_bytes = max_bytes
        self._http: aiohttp.ClientSession | None = None

    @property
    def model(self) -> str:
        return self._model

    async def aclose(self) -> None:
        await self._client.close()
        if self._http is not None:
            await self._http.close()

    async def transcribe(self, url: str, *, mimetype: str | None = None) -> Result[str]:
        try:
            audio = await self._download(url)
        except _Unfetchable as exc:
            log.warning("voice note not fetched", extra={"error": str(exc)})
            return Result.failure("audio_unavailable", str(exc))
        name, content_type = _file_name(mimetype)
        try:
            response = await self._client.audio.transcriptions.create(
                model=self._model, file=(name, audio, content_type))
        except Exception as exc:
            log.warning("transcription failed", extra={"error": _describe(exc)})
            return Result.failure("transcribe_error", _describe(exc))
        text = response if isinstance(response, str) else getattr(response, "text", "")
        return Result.success((text or "").strip())

    async def _download(self, url: str) -> bytes:
        if urlsplit(url).scheme not in ("http", "https"):
            raise _Unfetchable("not an http(s) link")
        if self._http is None:
            self._http = aiohttp.ClientSession(headers={"User-Agent": "truffles-gateway"})
        try:
            async with self._http.get(url, timeout=aiohttp.ClientTimeout(total=self._timeout)) \
                    as response:
                if response.status != 200:
                    raise _Unfetchable(f"HTTP {response.status}")
                if (response.content_length or 0) > self._max_bytes:
                    raise _Unfetchable("the audio is too large")
                audio = bytearray()
                async for chunk in response.content.iter_chunked(_CHUNK):
                    audio += chunk
                    if len(audio) > self._max_bytes:
                        raise _Unfetchable("the audio is too large")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Unfetchable(type(exc).__name__) from None
        if not audio:
            raise _Unfetchable("empty audio")
        return bytes(audio)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"{type(exc).__name__} (HTTP {exc.status_code})"
    return type(exc).__name__

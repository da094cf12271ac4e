"""The ChatFlow send API (WIRE.md §1) and the WhatsApp outbox sender built on it."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from core.delivery import Delivery, DeliveryOutcome
from core.outbound import CustomerMedia, CustomerText
from core.ports import Tenants

log = logging.getLogger(__name__)

TEXT_TIMEOUT = aiohttp.ClientTimeout(total=30)
MEDIA_TIMEOUT = aiohttp.ClientTimeout(total=90)
MEDIA_ENDPOINTS = {"image": ("send-image", "imageurl"), "audio": ("send-audio", "audiourl"),
                   "document": ("send-doc", "docurl"), "video": ("send-video", "videourl")}


class ChatFlowError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class _Transient(Exception):
    """A failure worth an immediate quick retry (connection reset, 5xx)."""


class ChatFlowClient:
    def __init__(self, session: aiohttp.ClientSession, api_base: str) -> None:
        self._session = session
        self._base = api_base.rstrip("/")

    async def send_text(self, *, token: str, instance_id: str, jid: str, text: str,
                        msg_id: str) -> dict[str, Any]:
        return await self._call("send-text", {"token": token, "instance_id": instance_id,
                                              "jid": jid, "msg": text, "msg_id": msg_id},
                                TEXT_TIMEOUT)

    async def send_media(self, *, token: str, instance_id: str, jid: str, media_type: str,
                         url: str, caption: str, msg_id: str) -> dict[str, Any]:
        endpoint, url_param = MEDIA_ENDPOINTS[media_type]
        return await self._call(endpoint, {"token": token, "instance_id": instance_id, "jid": jid,
                                           url_param: url, "caption": caption or " ",
                                           "msg_id": msg_id}, MEDIA_TIMEOUT)

    async def _call(self, endpoint: str, params: dict[str, str],
                    timeout: aiohttp.ClientTimeout) -> dict[str, Any]:
        """Two quick retries for transient errors inside one delivery attempt; the outbox's
        persisted backoff handles longer outages."""
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.2, max=2),
                retry=retry_if_exception_type(_Transient), reraise=True,
            ):
                with attempt:
                    return await self._once(endpoint, params, timeout)
        except _Transient as exc:
            raise ChatFlowError(str(exc), retryable=True) from None
        raise AssertionError("unreachable")

    async def _once(self, endpoint: str, params: dict[str, str],
                    timeout: aiohttp.ClientTimeout) -> dict[str, Any]:
        try:
            async with self._session.get(f"{self._base}/{endpoint}", params=params,
                                         timeout=timeout) as response:
                text = await response.text()
                if response.status >= 500 or response.status == 429:
                    raise _Transient(f"ChatFlow {endpoint}: HTTP {response.status}")
                if response.status != 200:
                    raise ChatFlowError(f"ChatFlow {endpoint}: HTTP {response.status}: {text[:200]}",
                                        retryable=response.status in (408, 409, 425))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Transient(f"ChatFlow {endpoint}: {type(exc).__name__}") from None
        try:
            body = await response.json(content_type=None)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ChatFlowError(f"ChatFlow {endpoint}: not a JSON object: {text[:200]}", retryable=True)
        if body.get("success") is False:
            reason = body.get("message") or body.get("error") or "success=false"
            raise ChatFlowError(f"ChatFlow {endpoint}: {reason}", retryable=True)
        return body


class WhatsAppSender:
    """Outbox sender for channel `whatsapp` (`CustomerText`, `CustomerMedia`). Replies go out
    through the instance the message came in on: the message's instance, else its branch's,
    else the client's. The token is looked up at send time (the client's own, else
    CHATFLOW_TOKEN), so rotated credentials apply to queued messages too."""

    def __init__(self, client: ChatFlowClient, tenants: Tenants, default_token: str | None) -> None:
        self._client = client
        self._tenants = tenants
        self._default_token = default_token

    async def deliver(self, delivery: Delivery) -> DeliveryOutcome:
        message = delivery.message
        if not isinstance(message, CustomerText | CustomerMedia):
            return DeliveryOutcome.failed(f"not a WhatsApp message: {delivery.kind}",
                                          retryable=False)
        client = await self._tenants.client(delivery.client_id)
        if client is None:
            return DeliveryOutcome.failed("client no longer exists", retryable=False)
        token = client.settings.chatflow_token or self._default_token
        instance = message.instance_id or client.settings.chatflow_instance_id
        if message.branch_id and not message.instance_id:
            branch = await self._tenants.branch(message.branch_id)
            if branch is not None and branch.instance_id:
                instance = branch.instance_id
        if not token or not instance:
            return DeliveryOutcome.failed("no ChatFlow token or instance id configured",
                                          retryable=False)
        try:
            if isinstance(message, CustomerText):
                result = await self._client.send_text(
                    token=token, instance_id=instance, jid=message.jid, text=message.text,
                    msg_id=delivery.idempotency_key)
            else:
                result = await self._client.send_media(
                    token=token, instance_id=instance, jid=message.jid,
                    media_type=message.media_type, url=message.url,
                    caption=message.caption or " ", msg_id=delivery.idempotency_key)
        except ChatFlowError as exc:
            return DeliveryOutcome.failed(str(exc), retryable=exc.retryable)
        return DeliveryOutcome.sent({k: v for k, v in result.items() if k in ("success", "id", "message")})

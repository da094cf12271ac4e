"""A fake Telegram Bot API server (a real local aiohttp server at `/bot{token}/{method}`, as
aiogram calls it through TELEGRAM_API_BASE): records calls, answers the methods the desk uses,
serves `getUpdates` from per-bot queues (long-poll: [] after a short wait), serves files, and
fails on request (429 with retry_after, 500, "message thread not found"). What `doctor` reads
(getChat, getChatMember, getWebhookInfo) describes a forum supergroup where the bot is an admin
with every right, and the webhook last set; `groups`, `bot_member`, `webhook_trouble` and
`missing_chats` change that."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

GROUP_A = -1001111111111
GROUP_B = -1002222222222
TOKEN_A = "111111:AAfake-token-for-client-a_0123456789"
TOKEN_B = "222222:AAfake-token-for-client-b_0123456789"
MESSAGE_METHODS = ("sendMessage", "sendPhoto", "sendDocument", "sendVoice", "sendAudio")
ADMIN_RIGHTS = ("can_be_edited", "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
                "can_restrict_members", "can_promote_members", "can_change_info",
                "can_invite_users", "can_post_stories", "can_edit_stories", "can_delete_stories",
                "can_send_welcome_messages", "can_pin_messages", "can_manage_topics")


@dataclass
class Call:
    token: str
    method: str
    params: dict[str, Any]


@dataclass
class Failure:
    method: str
    status: int
    description: str
    retry_after: int | None
    times: int


class FakeTelegram:
    def __init__(self, poll_wait: float = 0.05) -> None:
        self.calls: list[Call] = []
        self.poll_wait = poll_wait
        self._failures: list[Failure] = []
        self._ids = itertools.count(100)
        self._topic_ids = itertools.count(10)
        self._update_ids = itertools.count(5000)
        self._updates: dict[str, list[dict[str, Any]]] = {}
        self.deleted_topics: set[tuple[int, int]] = set()
        self.files: dict[str, bytes] = {}
        self.groups: dict[int, dict[str, Any]] = {}  # chat id → fields over a forum supergroup
        self.bot_member: dict[int, dict[str, Any]] = {}  # chat id → the bot's member fields
        self.missing_chats: set[int] = set()  # getChat / getChatMember: "chat not found"
        self.webhooks: dict[str, str] = {}  # token → URL given to setWebhook
        self.webhook_trouble: dict[str, dict[str, Any]] = {}  # token → getWebhookInfo fields
        self.app = web.Application()
        self.app.router.add_post("/bot{token}/{method}", self._method)
        self.app.router.add_get("/file/bot{token}/{path:.+}", self._file)

    # --- steering ----------------------------------------------------------------------------

    def fail(self, method: str, status: int = 500, description: str = "Internal Server Error",
             *, retry_after: int | None = None, times: int = 1) -> None:
        self._failures.append(Failure(method, status, description, retry_after, times))

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        self.deleted_topics.add((chat_id, thread_id))

    def push_update(self, token: str, update: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **update}
        self._updates.setdefault(token, []).append(update)
        return update

    def new_update_id(self) -> int:
        return next(self._update_ids)

    # --- inspection --------------------------------------------------------------------------

    def of(self, *methods: str, token: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.method in methods and (token is None or c.token == token)]

    def sent_texts(self, token: str | None = None) -> list[str]:
        return [c.params.get("text", "") for c in self.of("sendMessage", token=token)]

    # --- server ------------------------------------------------------------------------------

    async def _file(self, request: web.Request) -> web.Response:
        return web.Response(body=self.files.get(request.match_info["path"], b"file-bytes"))

    async def _method(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        params: dict[str, Any] = {}
        for key, value in (await request.post()).items():
            try:
                params[key] = json.loads(value) if isinstance(value, str) else value
            except ValueError:
                params[key] = value
        if method != "getUpdates":
            self.calls.append(Call(token, method, params))
        for failure in self._failures:
            if failure.method == method and failure.times > 0:
                failure.times -= 1
                body: dict[str, Any] = {"ok": False, "error_code": failure.status,
                                        "description": failure.description}
                if failure.retry_after is not None:
                    body["parameters"] = {"retry_after": failure.retry_after}
                return web.json_response(body, status=failure.status)
        if method in ("getChat", "getChatMember") and int(params["chat_id"]) in self.missing_chats:
            return web.json_response({"ok": False, "error_code": 400,
                                      "description": "Bad Request: chat not found"}, status=400)
        thread = params.get("message_thread_id")
        if method in MESSAGE_METHODS and thread is not None and \
                (int(params["chat_id"]), int(thread)) in self.deleted_topics:
            return web.json_response({"ok": False, "error_code": 400,
                                      "description": "Bad Request: message thread not found"},
                                     status=400)
        return web.json_response({"ok": True, "result": await self._result(token, method, params)})

    async def _result(self, token: str, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {"id": int(token.split(":")[0]), "is_bot": True, "first_name": "Desk",
                    "username": f"desk{token.split(':')[0]}_bot"}
        if method == "createForumTopic":
            return {"message_thread_id": next(self._topic_ids), "name": params["name"],
                    "icon_color": 7322096}
        if method in MESSAGE_METHODS or method == "editMessageReplyMarkup":
            message: dict[str, Any] = {
                "message_id": int(params.get("message_id") or next(self._ids)),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "supergroup", "is_forum": True},
                "from": {"id": int(token.split(":")[0]), "is_bot": True, "first_name": "Desk"},
            }
            if "message_thread_id" in params:
                message.update(message_thread_id=int(params["message_thread_id"]),
                               is_topic_message=True)
            if "text" in params:
                message["text"] = params["text"]
            return message
        if method == "getFile":
            return {"file_id": params["file_id"], "file_unique_id": "u" + params["file_id"],
                    "file_size": 10, "file_path": f"photos/{params['file_id']}.jpg"}
        if method == "getUpdates":
            offset = params.get("offset")
            queue = self._updates.setdefault(token, [])
            if offset is not None:
                queue[:] = [u for u in queue if u["update_id"] >= int(offset)]
            if not queue:
                await asyncio.sleep(self.poll_wait)
            return list(queue)
        return self._doctor_reads(token, method, params)

    def _doctor_reads(self, token: str, method: str, params: dict[str, Any]) -> Any:
        if method == "setWebhook":
            self.webhooks[token] = params["url"]
        elif method == "deleteWebhook":
            self.webhooks.pop(token, None)
        elif method == "getChat":
            chat_id = int(params["chat_id"])
            return {"id": chat_id, "type": "supergroup", "is_forum": True, "title": "Desk",
                    "accent_color_id": 0, "max_reaction_count": 11,
                    "accepted_gift_types": {"unlimited_gifts": False, "limited_gifts": False,
                                            "unique_gifts": False, "premium_subscription": False,
                                            "gifts_from_channels": False},
                    **self.groups.get(chat_id, {})}
        elif method == "getChatMember":
            user = {"id": int(params["user_id"]), "is_bot": True, "first_name": "Desk"}
            return {"status": "administrator", "user": user, "is_anonymous": False,
                    **dict.fromkeys(ADMIN_RIGHTS, True),
                    **self.bot_member.get(int(params["chat_id"]), {})}
        elif method == "getWebhookInfo":
            return {"url": self.webhooks.get(token, ""), "has_custom_certificate": False,
                    "pending_update_count": 0, **self.webhook_trouble.get(token, {})}
        return True  # pin/unpin, answerCallbackQuery


# --- update builders ------------------------------------------------------------------------

MANAGER = {"id": 501, "is_bot": False, "first_name": "Айдана", "last_name": "К"}
MANAGER_2 = {"id": 502, "is_bot": False, "first_name": "Ержан"}
OWNER = {"id": 900, "is_bot": False, "first_name": "Owner"}


def topic_message(chat_id: int, thread_id: int, text: str | None = None, *,
                  user: dict[str, Any] = MANAGER, message_id: int = 700,
                  **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": message_id, "date": int(time.time()), "from": user,
        "chat": {"id": chat_id, "type": "supergroup", "is_forum": True, "title": "Desk"},
        "message_thread_id": thread_id, "is_topic_message": True, **extra,
    }
    if text is not None:
        message["text"] = text
    return {"message": message}


def callback(chat_id: int, data: str, *, user: dict[str, Any] = MANAGER,
             message_id: int = 100, thread_id: int | None = None,
             query_id: str = "cb-1") -> dict[str, Any]:
    message: dict[str, Any] = {"message_id": message_id, "date": int(time.time()),
                               "chat": {"id": chat_id, "type": "supergroup", "is_forum": True}}
    if thread_id is not None:
        message.update(message_thread_id=thread_id, is_topic_message=True)
    return {"callback_query": {"id": query_id, "from": user, "chat_instance": "ci",
                               "data": data, "message": message}}

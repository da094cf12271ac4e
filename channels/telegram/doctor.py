"""`doctor`'s look at a client's desk through the Bot API (aiogram): the token works (getMe),
each group is a forum supergroup (getChat), the bot may create topics and pin cards there
(getChatMember), and the webhook matches TELEGRAM_MODE (getWebhookInfo). A short-lived bot
session of its own, closed after the checks; tokens never appear in what is reported."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.types import ChatMemberAdministrator, ChatMemberOwner

from channels.telegram.errors import describe
from channels.telegram.runner import webhook_url
from channels.telegram.settings import TelegramMode
from core.doctor import TELEGRAM_CHECKS, Check, failed, no_bot_checks, passed, skipped

REQUEST_TIMEOUT = 10.0
# Webhook delivery trouble worth a failure: a recent error, or a backlog Telegram cannot push.
RECENT_ERROR = timedelta(minutes=15)
MAX_PENDING_UPDATES = 100
RIGHTS = ("can_manage_topics", "can_pin_messages")


@dataclass(frozen=True, slots=True)
class DeskTarget:
    slug: str
    token: str | None
    groups: Sequence[tuple[str, int | None]]  # (label, chat id): "" the client's, else a branch
    mode: TelegramMode
    public_base_url: str | None  # the webhook mode's base (None: PUBLIC_BASE_URL unset)


async def desk_checks(api_base: str, target: DeskTarget, *,
                      now: datetime | None = None) -> list[Check]:
    if not target.token:
        return no_bot_checks(target.slug)
    bot = Bot(target.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_base),
                                                   timeout=REQUEST_TIMEOUT))
    try:
        return await _with_bot(bot, target, now or datetime.now(UTC))
    finally:
        await bot.session.close()


async def _with_bot(bot: Bot, target: DeskTarget, now: datetime) -> list[Check]:
    try:
        me = await bot.get_me()
    except TelegramUnauthorizedError:
        token = failed("telegram_token", "the token is rejected by Telegram (revoked or mistyped)",
                       f"python -m gateway client set {target.slug} telegram_bot_token=TOKEN")
        return [token, *(skipped(n, "needs a valid token") for n in TELEGRAM_CHECKS)]
    except Exception as exc:
        token = failed("telegram_token", f"Telegram unreachable: {describe(exc)}",
                       "check TELEGRAM_API_BASE and the network, then run doctor again")
        return [token, *(skipped(n, "Telegram unreachable") for n in TELEGRAM_CHECKS)]
    checks = [passed("telegram_token", f"@{me.username}")]
    for label, chat_id in target.groups:
        checks += await _group(bot, me.id, target.slug, label, chat_id)
    checks.append(await _webhook(bot, target, now))
    return checks


def _named(name: str, label: str) -> str:
    return f"{name}:{label}" if label else name


async def _group(bot: Bot, bot_id: int, slug: str, label: str, chat_id: int | None) -> list[Check]:
    group, rights = _named("telegram_group", label), _named("telegram_rights", label)
    setting = f"branch add … --telegram-chat-id (branch {label})" if label else \
        f"python -m gateway client set {slug} telegram_chat_id=-100…"
    if chat_id is None:
        return [failed(group, "no telegram_chat_id: cards have no group to go to", setting),
                skipped(rights, "needs a group")]
    try:
        chat = await bot.get_chat(chat_id)
    except Exception as exc:
        return [failed(group, f"group {chat_id}: {describe(exc)}",
                       f"add the bot to the group, and check the id ({setting})"),
                skipped(rights, "needs the group")]
    if chat.type != "supergroup" or not chat.is_forum:
        kind = "a forum" if chat.is_forum else f"a {chat.type} without topics"
        found = failed(group, f"group {chat_id} is {kind}",
                       "turn Topics on in the group's settings (it becomes a forum supergroup)")
    else:
        found = passed(group, f"{chat.title or chat_id}: forum supergroup")
    return [found, await _rights(bot, bot_id, chat_id, rights)]


async def _rights(bot: Bot, bot_id: int, chat_id: int, name: str) -> Check:
    hint = "make the bot an admin of the group with Manage topics and Pin messages"
    try:
        member = await bot.get_chat_member(chat_id, bot_id)
    except Exception as exc:
        return failed(name, f"cannot read the bot's membership: {describe(exc)}", hint)
    if isinstance(member, ChatMemberOwner):
        return passed(name, "the bot owns the group")
    if not isinstance(member, ChatMemberAdministrator):
        return failed(name, f"the bot is {member.status}, not an admin", hint)
    missing = [r for r in RIGHTS if not getattr(member, r)]
    if missing:
        return failed(name, f"the bot is an admin without {', '.join(missing)}", hint)
    return passed(name, "admin: manage topics, pin messages")


async def _webhook(bot: Bot, target: DeskTarget, now: datetime) -> Check:
    try:
        info = await bot.get_webhook_info()
    except Exception as exc:
        return failed("telegram_webhook", f"getWebhookInfo failed: {describe(exc)}",
                      "run doctor again; check TELEGRAM_API_BASE")
    if target.mode == TelegramMode.POLLING:
        if info.url:
            return failed("telegram_webhook", f"a webhook is set ({info.url}) while "
                          "TELEGRAM_MODE=polling: another program receives this bot's updates",
                          "stop the other program, or set TELEGRAM_MODE=webhook here; polling "
                          "removes the webhook when it starts")
        return passed("telegram_webhook", f"polling, no webhook set "
                      f"({info.pending_update_count} updates waiting)")
    if target.public_base_url is None:
        return failed("telegram_webhook", "TELEGRAM_MODE=webhook without PUBLIC_BASE_URL",
                      "set PUBLIC_BASE_URL to the gateway's public https:// address")
    expected = webhook_url(target.public_base_url, target.slug)
    if info.url != expected:
        return failed("telegram_webhook", f"webhook is {info.url or 'not set'}, expected "
                      f"{expected}", "start the gateway (it sets the webhook within "
                      "TELEGRAM_RESCAN_SECONDS); check PUBLIC_BASE_URL and the proxy")
    error_at = info.last_error_date
    if error_at is not None and now - error_at < RECENT_ERROR:
        return failed("telegram_webhook", f"Telegram could not deliver at "
                      f"{error_at:%H:%M} UTC: {info.last_error_message}",
                      "check that PUBLIC_BASE_URL/telegram-webhook/… is reachable over HTTPS "
                      "(proxy, certificate)")
    if info.pending_update_count > MAX_PENDING_UPDATES:
        return failed("telegram_webhook", f"{info.pending_update_count} updates waiting at "
                      "Telegram", "check that the gateway answers the webhook")
    return passed("telegram_webhook", f"webhook set, {info.pending_update_count} updates waiting")

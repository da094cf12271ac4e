"""Desk commands, answered only in the client's desk groups (they show customers' data):

- `/find <phone or name>`: matching customers, each a button that opens their topic with the
  recent history (`buttons.open_history`), where [Взять диалог] takes the conversation over;
- `/bot` in a customer's topic: the conversation goes back to the bot (`Desk.hand_back`);
- `/t NAME` in a customer's topic: a saved reply goes to the customer, `{customer_name}` filled
  in, as if the manager had written it (`core.relay`: history, auto-take);
- `/stats [today|week]`: the owner's figures (`core.reports`), as in the daily report.

Other commands fall through to `service.py`, which ignores them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import LinkPreviewOptions, Message

from channels.telegram import cards
from channels.telegram.handlers.manager_to_customer import manager_of
from core import canned
from core.customers import parse_query
from core.desk import Actor, Desk
from core.models import Client, Conversation
from core.outbound import TopicMessage
from core.ports import AuditEntry, DeskRecords
from core.relay import ManagerMessage, Relay
from core.reports import last_week, report_text, today
from core.texts import DESK

log = logging.getLogger(__name__)
FIND_LIMIT = 8
PERIODS = {"today": today, "сегодня": today, "week": last_week, "неделя": last_week}


async def _in_customer_topic(message: Message, client: Client,
                             records: DeskRecords) -> tuple[Actor, Conversation] | None:
    """The manager and the customer's conversation of a command written in a customer's topic
    of the desk group; None otherwise (a manager who wrote it elsewhere in the group is told)."""
    manager = manager_of(message)
    if manager is None or not await records.is_desk_group(client.id, message.chat.id):
        return None
    conversation = None
    if message.is_topic_message and message.message_thread_id:
        conversation = await records.conversation_by_topic(client.id, message.chat.id,
                                                           message.message_thread_id)
    if conversation is None:
        await message.reply(DESK["not_a_customer_topic"])
        return None
    return manager, conversation


async def find(message: Message, command: CommandObject, client: Client,
               records: DeskRecords) -> None:
    if not await records.is_desk_group(client.id, message.chat.id):
        return
    query = parse_query(command.args or "")
    if query is None:
        await message.reply(DESK["find_usage"])
        return
    matches = await records.find_customers(client.id, message.chat.id, query, FIND_LIMIT)
    if not matches:
        await message.reply(DESK["find_none"].format(query=(command.args or "").strip()))
        return
    text, markup = cards.found_customers(matches)
    await message.reply(text, parse_mode="HTML", reply_markup=markup)


async def to_bot(message: Message, client: Client, records: DeskRecords, desk: Desk) -> None:
    if (found := await _in_customer_topic(message, client, records)) is None:
        return
    manager, conversation = found
    outcome = await desk.hand_back(conversation.id, manager, client_id=client.id)
    if not outcome.ok:  # done: the closing note in the topic says so
        await message.reply(outcome.message)


async def canned_reply(message: Message, command: CommandObject, client: Client,
                       records: DeskRecords, relay: Relay) -> None:
    if (found := await _in_customer_topic(message, client, records)) is None:
        return
    manager, conversation = found
    asked = (command.args or "").split()
    saved = await records.canned_replies(client.id)
    name = asked[0].lower() if asked else None
    text = saved.get(name) if name else None
    if name is None or text is None:
        await message.reply(_canned_help(saved, asked[0] if asked else None))
        return
    customer_name, _ = await records.customer_label(conversation.id)
    body = canned.render(text, customer_name=customer_name, client_name=client.name)
    source = f"{message.chat.id}:{message.message_id}"
    outcome = await relay.manager_to_customer(ManagerMessage(
        conversation_id=conversation.id, source_key=source, manager=manager, text=body))
    if not outcome.relayed:
        log.info("canned reply not relayed", extra={"client": client.slug, "reason": outcome.reason})
        return
    await records.record(client.id, audit=AuditEntry(
        actor_type=manager.kind, action="canned_reply", actor_id=str(manager.id),
        actor_name=manager.name, conversation_id=conversation.id, details={"name": name}),
        message=TopicMessage(conversation.id,
                             f"{DESK['canned_sent_note'].format(name=name)}:\n{body}"),
        key=f"tg-canned:{source}")


def _canned_help(saved: dict[str, str], asked: str | None) -> str:
    if not saved:
        return DESK["canned_none"]
    listing = ", ".join(sorted(saved))
    if asked is None:
        return DESK["canned_usage"].format(names=listing)
    return DESK["canned_unknown"].format(name=asked, names=listing)


async def stats(message: Message, command: CommandObject, client: Client,
                records: DeskRecords) -> None:
    if not await records.is_desk_group(client.id, message.chat.id):
        return
    period_of = PERIODS.get((command.args or "today").strip().lower())
    if period_of is None:
        await message.reply(DESK["stats_usage"])
        return
    period = period_of(client.settings.timezone, datetime.now(UTC))
    figures = await records.figures(client.id, period.start, period.end)
    await message.reply(report_text(client.name, period, figures), parse_mode="HTML",
                        link_preview_options=LinkPreviewOptions(is_disabled=True))


def build() -> Router:
    router = Router(name="commands")
    router.message.register(find, Command("find", ignore_case=True))
    router.message.register(to_bot, Command("bot", ignore_case=True))
    router.message.register(canned_reply, Command("t", ignore_case=True))
    router.message.register(stats, Command("stats", ignore_case=True))
    return router

"""`python -m gateway chat SLUG`: talk to a client's bot as a customer, through the same pipeline
(a local console channel: no ChatFlow needed, replies are printed instead of sent)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from typing import Any

from ai.llm import OpenAIChat
from channels.chatflow.inbound import InvalidPayload, normalize_jid
from core.answers import Answerer
from core.desk import Desk
from core.pipeline import IncomingMessage, TurnProcessor
from gateway.demo import DEMO_SLUG, load_demo_knowledge, seed_demo_client
from gateway.knowledge_cli import open_knowledge_base
from gateway.resources import open_database
from gateway.settings import Settings
from storage.repositories import clients
from storage.repositories.conversations import upsert_customer
from storage.store import PgStore, PgTenants


def fresh_console_jid() -> str:
    """A new customer per chat session, so that each session starts in bot_active."""
    return f"7000{uuid.uuid4().int % 10**8:08d}@s.whatsapp.net"


async def chat(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings, pool_size=3) as db:
        if settings.demo_seed and args.slug == DEMO_SLUG:
            await seed_demo_client(db.pool)
        client = await clients.by_slug(db.pool, args.slug)
        if client is None:
            raise ValueError(f"no client with slug {args.slug!r}")
        kb = await open_knowledge_base(settings, snapshot_if_busy=True)
        llm = None
        if settings.llm_enabled:
            key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
            llm = OpenAIChat(api_key=key, base_url=settings.openai_base_url,
                             model=settings.llm_model, timeout=settings.llm_timeout_seconds)
        try:
            if settings.demo_seed:
                await load_demo_knowledge(db.pool, kb)
            store = PgStore(db.pool)
            processor = TurnProcessor(store, PgTenants(db.pool), Answerer(kb, llm), llm, Desk(store))
            async with db.pool.acquire() as conn, conn.transaction():
                _, conversation_id = await upsert_customer(
                    conn, client.id, args.jid or fresh_console_jid(), "Console", branch_id=None,
                    channel="console")
            if sys.stdin.isatty() and not args.json:
                print(f"chatting with {client.name} ({client.slug}); Ctrl-D to quit", file=sys.stderr)
            await _loop(processor, conversation_id, args.json)
        finally:
            await kb.aclose()
            if llm is not None:
                await llm.aclose()
    return 0


async def _loop(processor: TurnProcessor, conversation_id: uuid.UUID, as_json: bool) -> None:
    while True:
        if sys.stdin.isatty() and not as_json:
            print("you> ", end="", flush=True, file=sys.stderr)
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        text = line.strip()
        if not text:
            continue
        outcome = await processor.process(
            conversation_id, [IncomingMessage(text=text, provider_message_id=f"console-{uuid.uuid4()}")],
            deliver_reply=False)
        if as_json:
            turn: dict[str, Any] = {"message": text, "reply": outcome.reply, "intent": outcome.intent,
                                    "action": outcome.act, "state": outcome.state}
            print(json.dumps(turn, ensure_ascii=False), flush=True)
        else:
            print(f"bot> {outcome.reply}" if outcome.reply else "bot> (no reply: "
                  f"{outcome.act}, state {outcome.state})", flush=True)


def _jid(raw: str) -> str:
    try:
        return normalize_jid(raw)
    except InvalidPayload:
        raise argparse.ArgumentTypeError("expected digits or digits@s.whatsapp.net") from None


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("chat", help="talk to a client's bot as a customer (stdin lines in)")
    parser.add_argument("slug")
    parser.add_argument("--jid", type=_jid, default=None,
                        help="the customer's WhatsApp id to play (default: a new customer); "
                             "repeat it to continue a conversation")
    parser.add_argument("--json", action="store_true", help="one JSON line per turn")
    parser.set_defaults(handler=chat)

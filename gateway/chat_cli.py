"""`python -m gateway chat SLUG`: talk to a client's bot as a customer, through the same pipeline
(a local console channel: no ChatFlow needed, replies are printed instead of sent)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from typing import Any

from channels.chatflow.inbound import InvalidPayload, normalize_jid
from core.models import InboundMessage
from core.pipeline import TurnProcessor
from gateway.demo import DEMO_SLUG
from gateway.settings import Settings
from gateway.wiring import build_system


def fresh_console_jid() -> str:
    """A new customer per chat session, so that each session starts in bot_active."""
    return f"7000{uuid.uuid4().int % 10**8:08d}@s.whatsapp.net"


async def chat(args: argparse.Namespace, settings: Settings) -> int:
    async with build_system(settings, pipeline=True, knowledge_snapshot=True,
                            demo=args.slug == DEMO_SLUG) as system:
        client = await system.tenants.client_by_slug(args.slug)
        if client is None:
            raise ValueError(f"no client with slug {args.slug!r}")
        jid = args.jid or fresh_console_jid()
        conversation_id = await system.inbox.conversation_for(client, None, jid, name="Console",
                                                              channel="console")
        if sys.stdin.isatty() and not args.json:
            print(f"chatting with {client.name} ({client.slug}); Ctrl-D to quit", file=sys.stderr)
        assert system.processor is not None
        await _loop(system.processor, conversation_id, jid, args.json)
    return 0


async def _loop(processor: TurnProcessor, conversation_id: uuid.UUID, jid: str,
                as_json: bool) -> None:
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
            conversation_id, [InboundMessage(provider_message_id=f"console-{uuid.uuid4()}",
                                             remote_jid=jid, text=text, channel="console")],
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

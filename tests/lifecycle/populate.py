"""A client with a row in every table it can own, knowledge vectors and media files, written
the way the gateway writes them where it can (inbox, knowledge base, desk records)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import asyncpg

from channels.telegram.media import MediaLinks
from core.knowledge import KnowledgeBase
from core.models import Client, InboundMessage
from storage.repositories import clients
from storage.store import PgInbox
from tests.factories import make_client

TOPIC = 501
CHAT = -100500


@dataclass
class Populated:
    client: Client
    conversation_id: UUID
    phone: str
    media: list[Path]


async def populate(db: asyncpg.Pool, slug: str, kb: KnowledgeBase, data_dir: Path,
                   phone: str = "77011234567") -> Populated:
    client = await make_client(db, slug, telegram_bot_token=f"1:{slug}-bot",
                               telegram_chat_id=CHAT)
    jid = f"{phone}@s.whatsapp.net"
    branch = await clients.add_branch(db, client.id, "north", "Север", instance_id=f"i-{slug}",
                                      knowledge_tag="north")
    async with db.acquire() as conn:
        await clients.set_prompt(conn, client.id, "Ты — администратор салона.")
    accepted = await PgInbox(db).accept(client, branch, InboundMessage(
        provider_message_id=f"m-{slug}-1", remote_jid=jid, text="Здравствуйте, это Айгерим",
        sender_name="Айгерим"), raw={"metadata": {"remoteJid": jid}})
    conv = accepted.conversation_id
    async with db.acquire() as conn, conn.transaction():  # state and request together
        await conn.execute("UPDATE conversations SET state = 'pending', telegram_topic_id = $2, "
                           "telegram_chat_id = $3 WHERE id = $1", conv, TOPIC, CHAT)
        handover = await conn.fetchval(
            """INSERT INTO handovers (conversation_id, client_id, trigger_type, trigger_value,
                                      user_message, trigger_detail)
               VALUES ($1, $2, 'intent', 'human_request', 'Позовите менеджера, мой номер ' || $3,
                       '{"source": "rules"}') RETURNING id""", conv, client.id, phone)
    await db.execute(
        """INSERT INTO messages (conversation_id, role, content) VALUES
           ($1, 'user', 'Здравствуйте, это Айгерим'), ($1, 'assistant', 'Здравствуйте!')""", conv)
    media = MediaLinks(data_dir)
    owned = media.new_path(".jpg", client.id.hex)
    owned.write_bytes(b"photo")
    legacy = media.new_path(".pdf")  # written before files carried their client
    legacy.write_bytes(b"pdf")
    for number, path in enumerate((owned, legacy)):
        await db.execute(
            """INSERT INTO outbox (client_id, conversation_id, channel, kind, payload,
                                   idempotency_key, status)
               VALUES ($1, $2, 'whatsapp', 'send_media', $3, $4, 'sent')""",
            client.id, conv, {"url": f"https://gw.example/media/{media.token(path)}",
                              "jid": jid, "caption": "ваш чек"}, f"media-{slug}-{number}")
    await db.execute(
        "INSERT INTO telegram_updates (client_id, update_id, payload) VALUES ($1, 1, $2)",
        client.id, {"message": {"chat": {"id": CHAT}, "message_thread_id": TOPIC,
                                "text": "Айгерим, ваш заказ готов"}})
    await db.execute(
        """INSERT INTO audit_log (client_id, actor_type, action, handover_id, conversation_id)
           VALUES ($1, 'system', 'escalate', $2, $3)""", client.id, handover, conv)
    await db.execute("INSERT INTO canned_replies (client_id, name, text) VALUES ($1, 'hi', 'Привет')",
                     client.id)
    await db.execute(
        """INSERT INTO daily_reports (client_id, report_date, period_start, period_end)
           VALUES ($1, current_date, now() - interval '1 day', now())""", client.id)
    await db.execute("INSERT INTO alerts (key, kind, client_id) VALUES ($1, 'turn_failed', $2)",
                     f"turn_failed:{client.id}", client.id)
    await kb.ingest_document(slug, "prices", "## Маникюр\nМаникюр — 6 000 ₸.",
                             knowledge_tag="north")
    await kb.learn(slug, "Можно с собакой?", "Да, можно.")
    return Populated(client, conv, phone, [owned, legacy])


async def rows_mentioning(db: asyncpg.Pool, text: str) -> dict[str, int]:
    """Rows of every table of the schema whose text form contains `text`."""
    tables = [r["tablename"] for r in await db.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
    found = {}
    for table in tables:
        rows = await db.fetchval(f'SELECT count(*) FROM public."{table}" t '
                                 "WHERE strpos(t::text, $1) > 0", text)
        if rows:
            found[table] = rows
    return found

"""The outage suite's world: the real app in this process (its workers, scheduler and Telegram
desk running), its fake peers, customers and a manager, and simulated time.

Time is simulated by moving every timestamp the gateway keeps in the database back: for
everything that reckons with the database's clock (retry backoffs, reply deadlines, reminders,
debounce, leases) that is the same as the time passing. Time moves only while the system is
settled (nothing in flight), a simulated minute at a time, and after each minute the
scheduler's passes run as they would (reminders every minute, self-heal every five) and the
alert watch looks once. The operator's alert chat is in the fake Telegram (`operator_alerts`)."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from core.models import Client
from gateway.app import create_app
from gateway.keys import KNOWLEDGE, SCHEDULER_PORTS, SERVING
from gateway.settings import Settings
from scheduler.jobs import heal_pass, reminder_pass
from storage.repositories import inbox, outbox
from tests.chaos.load import ASK_FOR_PERSON, Message, jid_of
from tests.chaos.peers import Peers
from tests.factories import WEBHOOK_SECRET, make_client
from tests.fakes import wait_for
from tests.ops.conftest import ALERT_CHAT, ALERT_TOKEN, alerts_sent
from tests.telegram.fakes import GROUP_A, TOKEN_A, callback, topic_message

SLUG = "outage_salon"
SETTLE_TIMEOUT = 30.0  # real seconds for the system to finish what is due

# What "now" means to a row: the timestamps moved back as time passes. Rows being worked on
# (claimed) keep theirs; nothing is claimed while the world is settled anyway.
_SHIFTED = {
    "outbox": ("created_at, next_attempt_at, deliver_until, sent_at, locked_until",
               "status <> 'processing'"),
    "turn_queue": ("first_at, last_at, due_at", "NOT leased"),
    "inbound_events": ("received_at, processed_at, locked_until", "status <> 'processing'"),
    "telegram_updates": ("received_at, processed_at, claimed_until",
                         "processed_at IS NOT NULL OR claimed_until IS NULL OR claimed_until < now()"),
    "conversations": ("created_at, last_message_at, bot_muted_until, pending_notice_at, "
                      "rating_due_until", "true"),
    "handovers": ("created_at, taken_at, resolved_at, reminder_1_sent_at, reminder_2_sent_at, "
                  "rating_asked_at, rated_at", "true"),
    "messages": ("created_at", "true"),
    "audit_log": ("created_at", "true"),
}

_SETTLED = """
    SELECT NOT EXISTS (SELECT 1 FROM outbox o
                        WHERE o.status = 'processing'
                           OR (o.status = 'pending' AND o.next_attempt_at <= now()
                               AND NOT EXISTS (SELECT 1 FROM outbox older
                                                WHERE older.conversation_id = o.conversation_id
                                                  AND older.channel = o.channel
                                                  AND older.id < o.id
                                                  AND older.status IN ('pending', 'processing'))))
       AND NOT EXISTS (SELECT 1 FROM turn_queue WHERE leased OR due_at <= now())
       AND NOT EXISTS (SELECT 1 FROM inbound_events WHERE status = 'processing')"""


def shift_statement(table: str, columns: str, where: str) -> str:
    moved = ", ".join(f"{c.strip()} = {c.strip()} - $1::interval" for c in columns.split(","))
    return f"UPDATE {table} SET {moved} WHERE {where}"


class World:
    def __init__(self, dsn: str, db: asyncpg.Pool, peers: Peers, tmp_path: Path, *,
                 qdrant: bool = False) -> None:
        """`qdrant`: the vector store is the (never reachable) Qdrant server of `peers`."""
        self.db = db
        self.peers = peers
        self._with_knowledge = not qdrant
        self.settings = Settings(
            _env_file=None, database_url=dsn, data_dir=tmp_path / "data", demo_seed=False,
            log_format="text", workers=4, chatflow_api_base=peers["chatflow"].url(),
            telegram_api_base=peers["telegram"].url(), openai_base_url=peers["llm"].url("/v1"),
            openai_api_key="sk-fake-for-tests", embeddings_provider="tei",
            embeddings_url=peers["embedder"].url(), embeddings_model="fake-tei",
            telegram_rescan_seconds=0.2, telegram_poll_timeout=1,
            telegram_min_send_interval=0, telegram_sends_per_minute=100_000,
            qdrant_url=peers["qdrant"].url() if qdrant else None,
            # the operator's alerts, in a chat of the same (fake) Telegram; a desk counts as
            # unreachable after a few real seconds of failures (the simulated hour is ~15 s)
            alert_telegram_bot_token=SecretStr(ALERT_TOKEN), alert_telegram_chat_id=ALERT_CHAT,
            alert_desk_unreachable_minutes=0.05)
        self.client: TestClient | None = None
        self.salon: Client | None = None
        self.messages: list[Message] = []
        self.minutes = 0  # simulated minutes passed
        self.pushed: list[int] = []  # Telegram update ids the manager sent
        self._ids = itertools.count(1)

    async def start(self) -> None:
        self.salon = await make_client(self.db, SLUG, debounce_seconds=0,
                                       telegram_bot_token=TOKEN_A, telegram_chat_id=GROUP_A,
                                       owner_telegram_ids=[900])
        self.client = TestClient(TestServer(create_app(self.settings)))
        await self.client.start_server()
        if self._with_knowledge:
            await wait_for(lambda: self.client.app[KNOWLEDGE].current, timeout=30)
        await wait_for(lambda: self.client.app[SERVING].desk, timeout=30)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()

    # --- people ---------------------------------------------------------------------------

    async def say(self, customer: int, text: str | None = None) -> Message:
        """A customer's message through the ChatFlow webhook, offered again (as ChatFlow does)
        while the gateway answers 503."""
        assert self.client is not None
        number = next(self._ids)
        token = f"[c{customer}-{number}]"
        message = Message(f"outage-{customer}-{number}", customer,
                          f"{text or 'сколько стоит маникюр'}? {token}", token)
        body = {"messageType": "text", "message": message.text,
                "metadata": {"sender": f"Клиент {customer}", "messageId": message.key,
                             "remoteJid": jid_of(customer), "timestamp": 1764929737}}
        message.first_try = time.monotonic()
        for _ in range(200):
            message.tries += 1
            response = await self.client.post(f"/webhook/{SLUG}", json=body,
                                              params={"webhook_secret": WEBHOOK_SECRET})
            if response.status == 200:
                break
            assert response.status == 503, f"webhook answered {response.status}"
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"{message.key} was never accepted")
        self.messages.append(message)
        return message

    async def ask_for_person(self, customer: int) -> Message:
        return await self.say(customer, ASK_FOR_PERSON)

    async def topic_of(self, customer: int) -> tuple[int, int, Any]:
        """(topic, card message id, handover id) of the customer's open request."""
        row = await self.db.fetchrow(
            """SELECT c.telegram_topic_id, h.telegram_message_id, h.id
                 FROM handovers h JOIN conversations c ON c.id = h.conversation_id
                 JOIN users u ON u.id = c.user_id
                WHERE u.remote_jid = $1 AND h.status IN ('pending', 'active')""", jid_of(customer))
        assert row is not None and row[0] is not None, f"customer {customer} has no request card"
        return row[0], row[1], row[2]

    async def manager_takes(self, customer: int) -> None:
        topic, card, handover = await self.topic_of(customer)
        self._push(callback(GROUP_A, f"take:{handover}", message_id=card, thread_id=topic,
                            query_id=f"q{next(self._ids)}"))

    async def manager_writes(self, customer: int, text: str) -> None:
        topic, _, _ = await self.topic_of(customer)
        self.manager_writes_in(topic, text)

    def manager_writes_in(self, topic: int, text: str) -> None:
        self._push(topic_message(GROUP_A, topic, text, message_id=1000 + next(self._ids)))

    def _push(self, update: dict[str, Any]) -> None:
        self.pushed.append(self.peers.telegram.push_update(TOKEN_A, update)["update_id"])

    def operator_alerts(self) -> list[str]:
        return alerts_sent(self.peers.telegram)

    async def updates_handled(self, timeout: float = 90.0) -> None:
        """Until every update the manager sent has been fetched and handled (after a Telegram
        outage the desk polls again after its backoff, up to a minute)."""
        await wait_for(lambda: self.db.fetchval(
            """SELECT count(*) = cardinality($1::bigint[]) FROM telegram_updates
                WHERE update_id = ANY($1::bigint[]) AND processed_at IS NOT NULL""",
            self.pushed), timeout=timeout, interval=0.1)

    # --- time -------------------------------------------------------------------------------

    async def settled(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Until nothing is due or in flight: every turn and delivery due by now has been
        tried (twice in a row, so that what one step made due is seen too)."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:
            if time.monotonic() > deadline:
                rows = await self.db.fetch(
                    "SELECT id, kind, status, next_attempt_at - now() AS due_in, last_error "
                    "FROM outbox WHERE status IN ('pending', 'processing')")
                raise AssertionError(f"not settled after {timeout} s: {[dict(r) for r in rows]}")
            quiet = quiet + 1 if await self.db.fetchval(_SETTLED) else 0
            await asyncio.sleep(0.05)

    async def advance(self, minutes: int) -> None:
        """Let `minutes` simulated minutes pass, one at a time."""
        assert self.client is not None
        ports = self.client.app[SCHEDULER_PORTS]
        for _ in range(minutes):
            await self.settled()
            async with self.db.acquire() as conn, conn.transaction():
                for table, (columns, where) in _SHIFTED.items():
                    await conn.execute(shift_statement(table, columns, where), timedelta(minutes=1))
                await conn.execute("SELECT pg_notify($1, 'tick'), pg_notify($2, 'tick')",
                                   outbox.NOTIFY_CHANNEL, inbox.NOTIFY_CHANNEL)
            self.minutes += 1
            await self.settled()
            await reminder_pass(ports)
            if self.minutes % 5 == 0:
                await heal_pass(ports)
            alerts = self.client.app[SERVING].alerts
            assert alerts is not None
            await alerts.check()  # the alert watch's round

    async def drain(self, max_minutes: int = 30) -> int:
        """Let time pass until nothing waits any more; the simulated minutes it took."""
        for minute in range(max_minutes + 1):
            await self.settled()
            if not await self.db.fetchval(
                    """SELECT EXISTS (SELECT 1 FROM outbox WHERE status IN ('pending', 'processing'))
                           OR EXISTS (SELECT 1 FROM turn_queue)"""):
                return minute
            await self.advance(1)
        raise AssertionError(f"still waiting after {max_minutes} simulated minutes")

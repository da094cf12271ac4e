"""The books of a crash run, read back from the database and from what the fake peers
received: every message accepted is in the history once, every turn answered once, every
delivery received, every invariant holding. `Ledger.problems` lists what is wrong (empty when
all is well); the figures are for the README."""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import asyncpg

from storage.repositories.maintenance import PgMaintenance
from tests.chaos.load import Message
from tests.chaos.peers import Answered, Peers


@dataclass(frozen=True, slots=True)
class Turn:
    """User messages stored by one transaction (the turn that answered them): one `now()`."""

    conversation_id: UUID
    at: datetime
    message_keys: tuple[str, ...]  # ChatFlow messageIds, in order
    first_event: int

    @property
    def key(self) -> str:
        """The suffix of the turn's outbox keys (`reply:…`, `mirror:…`), as the pipeline
        makes it from the turn's first event."""
        return f"{self.conversation_id}:e{self.first_event}"


@dataclass
class Ledger:
    problems: list[str] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    replies: int = 0  # bot replies delivered
    whatsapp_resent: int = 0  # sends ChatFlow received again with a msg_id it had (dropped there)
    telegram_resent: int = 0  # desk messages Telegram got twice (it has no idempotency key)
    response_at: dict[str, float] = field(default_factory=dict)  # message key → its turn answered

    def expect(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)


async def read_ledger(db: asyncpg.Pool, peers: Peers, messages: list[Message],
                      escalating: set[str], manager_texts: list[str],
                      pushed_updates: list[int]) -> Ledger:
    """`escalating`: the jids that asked for a person (each must have had one request)."""
    ledger = Ledger()
    await check_history(db, messages, ledger)
    outbox = await sent_outbox(db, ledger)
    await check_turns(db, outbox, ledger)
    _whatsapp_received(peers, outbox, ledger)
    _telegram_received(peers, outbox, ledger)
    await _desk(db, escalating, manager_texts, pushed_updates, ledger)
    await check_invariants(db, ledger)
    return ledger


async def sent_outbox(db: asyncpg.Pool, ledger: Ledger) -> dict[str, asyncpg.Record]:
    """Every outbox row by its key; each must have been sent."""
    outbox = {r["idempotency_key"]: r for r in await db.fetch("SELECT * FROM outbox ORDER BY id")}
    for key, row in outbox.items():
        ledger.expect(row["status"] == "sent", f"outbox {key} is {row['status']}: {row['last_error']}")
    return outbox


async def check_history(db: asyncpg.Pool, messages: list[Message], ledger: Ledger) -> None:
    events = {r["provider_message_id"]: r for r in await db.fetch(
        "SELECT provider_message_id, status, last_error FROM inbound_events")}
    stored = Counter(r["provider_message_id"] for r in await db.fetch(
        "SELECT provider_message_id FROM messages WHERE role = 'user'"))
    for message in messages:
        event = events.get(message.key)
        ledger.expect(event is not None, f"{message.key} accepted but not in the inbox")
        if event is not None:
            ledger.expect(event["status"] == "done",
                          f"{message.key} is {event['status']}: {event['last_error']}")
        ledger.expect(stored[message.key] == 1,
                      f"{message.key} is in the history {stored[message.key]} times")
    ledger.expect(len(events) == len(messages), f"{len(events)} events for {len(messages)} messages")


async def check_turns(db: asyncpg.Pool, outbox: dict[str, asyncpg.Record], ledger: Ledger) -> None:
    rows = await db.fetch(
        """SELECT m.conversation_id, m.created_at, m.provider_message_id, e.id AS event_id
             FROM messages m
             JOIN inbound_events e ON e.provider_message_id = m.provider_message_id
            WHERE m.role = 'user' ORDER BY m.id""")
    grouped: dict[tuple[UUID, datetime], list[asyncpg.Record]] = defaultdict(list)
    for row in rows:
        grouped[(row["conversation_id"], row["created_at"])].append(row)
    ledger.turns = [Turn(conv, at, tuple(r["provider_message_id"] for r in group),
                         group[0]["event_id"]) for (conv, at), group in grouped.items()]
    escalated = {r["conversation_id"] for r in await db.fetch("SELECT conversation_id FROM handovers")}
    answers = Counter((r["conversation_id"], r["created_at"]) for r in await db.fetch(
        "SELECT conversation_id, created_at FROM messages WHERE role = 'assistant'"))
    for turn in ledger.turns:
        reply, mirror = f"reply:{turn.key}" in outbox, f"mirror:{turn.key}" in outbox
        ledger.replies += reply
        ledger.expect(answers[(turn.conversation_id, turn.at)] == reply,
                      f"turn {turn.message_keys}: {answers[(turn.conversation_id, turn.at)]} "
                      f"answers in the history, reply queued: {reply}")
        if turn.conversation_id in escalated:
            ledger.expect(reply or mirror, f"turn {turn.message_keys} reached nobody")
        else:
            ledger.expect(reply, f"turn {turn.message_keys} got no reply")


def _whatsapp_received(peers: Peers, outbox: dict[str, asyncpg.Record], ledger: Ledger) -> None:
    """ChatFlow got each WhatsApp row (its msg_id is the row's key) and nothing else."""
    sends = [a for a in peers["chatflow"].answered if a.path.startswith("/send-")]
    received = Counter(a.params["msg_id"] for a in sends)
    expected = {key for key, row in outbox.items() if row["channel"] == "whatsapp"}
    ledger.expect(set(received) == expected,
                  f"ChatFlow missing {sorted(expected - set(received))[:5]}, "
                  f"unexpected {sorted(set(received) - expected)[:5]}")
    ledger.whatsapp_resent = sum(received.values()) - len(received)
    first: dict[str, float] = {}
    for answered in sends:
        first.setdefault(answered.params["msg_id"], answered.at)
    for turn in ledger.turns:
        if (at := first.get(f"reply:{turn.key}")) is not None:
            for key in turn.message_keys:
                ledger.response_at[key] = at


def _telegram_received(peers: Peers, outbox: dict[str, asyncpg.Record], ledger: Ledger) -> None:
    """Each mirror row reached its topic (found by the tokens of its lines), each request card
    too; a message sent twice is counted (Telegram cannot drop a repeat)."""
    sent: list[Answered] = [a for a in peers["telegram"].answered if a.path.endswith("/sendMessage")]
    for row in outbox.values():
        if row["kind"] != "mirror":
            continue
        token = row["payload"]["lines"][0].rsplit(" ", 1)[-1]
        copies = [a for a in sent if token in a.params.get("text", "")
                  and "Новая заявка" not in a.params.get("text", "")]
        ledger.expect(bool(copies), f"mirror {row['idempotency_key']} never reached Telegram")
        ledger.telegram_resent += max(len(copies) - 1, 0)
        turn = next((t for t in ledger.turns if f"mirror:{t.key}" == row["idempotency_key"]), None)
        if copies and turn is not None:
            for key in turn.message_keys:
                ledger.response_at.setdefault(key, copies[0].at)
    cards = Counter(a.params.get("message_thread_id") for a in sent
                    if "Новая заявка" in a.params.get("text", ""))
    requests = sum(1 for row in outbox.values() if row["kind"] == "escalation_card")
    ledger.expect(len(cards) == requests, f"{len(cards)} topics got a card, {requests} requests")
    ledger.telegram_resent += sum(cards.values()) - len(cards)
    topics = len([a for a in peers["telegram"].answered if a.path.endswith("/createForumTopic")])
    ledger.telegram_resent += max(topics - requests, 0)


async def _desk(db: asyncpg.Pool, escalating: set[str], manager_texts: list[str],
                pushed_updates: list[int], ledger: Ledger) -> None:
    per_jid = Counter(r["remote_jid"] for r in await db.fetch(
        """SELECT u.remote_jid FROM handovers h JOIN conversations c ON c.id = h.conversation_id
             JOIN users u ON u.id = c.user_id"""))
    ledger.expect(set(per_jid) == escalating and all(n == 1 for n in per_jid.values()),
                  f"requests per customer {dict(per_jid)} (expected one each for {len(escalating)})")
    unresolved = await db.fetchval("SELECT count(*) FROM handovers WHERE status <> 'resolved'")
    ledger.expect(unresolved == 0, f"{unresolved} requests not resolved")
    handled = await db.fetchval(
        """SELECT count(*) FROM telegram_updates
            WHERE update_id = ANY($1::bigint[]) AND processed_at IS NOT NULL""", pushed_updates)
    ledger.expect(handled == len(pushed_updates),
                  f"{handled} of {len(pushed_updates)} manager updates handled")
    said = Counter(r["content"] for r in await db.fetch(
        "SELECT content FROM messages WHERE role = 'manager'"))
    for text in manager_texts:
        ledger.expect(said[text] == 1, f"the manager's {text!r} is in the history {said[text]} times")


async def check_invariants(db: asyncpg.Pool, ledger: Ledger) -> None:
    suspects = await PgMaintenance(db).heal_suspects()
    ledger.expect(not suspects, f"{len(suspects)} conversations break the state invariant")
    waiting = await db.fetchval("SELECT count(*) FROM turn_queue")
    ledger.expect(waiting == 0, f"{waiting} conversations still in the turn queue")
    cardless = await db.fetchval("SELECT count(*) FROM handovers WHERE telegram_message_id IS NULL")
    ledger.expect(cardless == 0, f"{cardless} requests without a card")
    topicless = await db.fetchval(
        """SELECT count(*) FROM conversations c WHERE telegram_topic_id IS NULL
              AND EXISTS (SELECT 1 FROM handovers h WHERE h.conversation_id = c.id)""")
    ledger.expect(topicless == 0, f"{topicless} escalated conversations without a topic")


def check_whatsapp_once_in_order(peers: Peers, outbox: dict[str, asyncpg.Record],
                                 ledger: Ledger) -> None:
    """ChatFlow got each WhatsApp row exactly once, nothing else, and each customer's in the
    order they were queued."""
    sends = [a for a in peers["chatflow"].answered if a.path.startswith("/send-")]
    received = Counter(a.params["msg_id"] for a in sends)
    rows = [row for row in outbox.values() if row["channel"] == "whatsapp"]
    for row in rows:
        ledger.expect(received[row["idempotency_key"]] == 1,
                      f"ChatFlow got {row['idempotency_key']} {received[row['idempotency_key']]} times")
    ledger.expect(set(received) <= {row["idempotency_key"] for row in rows},
                  f"ChatFlow got unknown messages {set(received) - set(outbox)}")
    arrived = {a.params["msg_id"]: index for index, a in enumerate(sends)}
    lanes: dict[UUID, list[asyncpg.Record]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["id"]):
        lanes[row["conversation_id"]].append(row)
    for conversation, lane in lanes.items():
        order = [arrived.get(row["idempotency_key"], -1) for row in lane]
        ledger.expect(order == sorted(order), f"WhatsApp messages of {conversation} out of order: "
                      f"{[row['idempotency_key'] for row in lane]}")


def _shows(row: asyncpg.Record, sent: Answered, topic: int | None) -> bool:
    """Whether this sendMessage is the desk message of this outbox row."""
    text = html.unescape(sent.params.get("text", ""))
    if str(sent.params.get("message_thread_id")) != str(topic):
        return False
    if row["kind"] == "escalation_card":
        return "Новая заявка" in text
    if row["kind"] == "mirror":
        token = row["payload"]["lines"][0].rsplit(" ", 1)[-1]
        return token in text and "Новая заявка" not in text
    return text == html.unescape(row["payload"]["text"])


async def check_telegram_once_in_order(db: asyncpg.Pool, peers: Peers,
                                       outbox: dict[str, asyncpg.Record], ledger: Ledger) -> None:
    """Each request card, mirror, note and reminder reached its topic exactly once, each topic's
    in the order they were queued; one topic per conversation with a request."""
    topics = {r["id"]: r["telegram_topic_id"] for r in await db.fetch(
        "SELECT id, telegram_topic_id FROM conversations")}
    sent = [a for a in peers["telegram"].answered if a.path.endswith("/sendMessage")]
    lanes: dict[UUID, list[int]] = defaultdict(list)
    for row in sorted(outbox.values(), key=lambda r: r["id"]):
        if row["kind"] not in ("escalation_card", "mirror", "topic_message"):
            continue  # card edits and unpins change a message, they add none
        topic = topics.get(row["conversation_id"])
        shown = [index for index, a in enumerate(sent) if _shows(row, a, topic)]
        ledger.expect(len(shown) == 1, f"Telegram showed {row['idempotency_key']} {len(shown)} times")
        lanes[row["conversation_id"]].append(shown[0] if shown else -1)
    for conversation, order in lanes.items():
        ledger.expect(order == sorted(order), f"desk messages of {conversation} out of order")
    created = len([a for a in peers["telegram"].answered if a.path.endswith("/createForumTopic")])
    with_topic = sum(1 for topic in topics.values() if topic is not None)
    ledger.expect(created == with_topic, f"{created} topics created for {with_topic} conversations")

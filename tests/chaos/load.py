"""What the crash suite sends: customers writing to the gateway's ChatFlow webhook (retrying as
ChatFlow does while the gateway is down or answers 5xx), every fifth of them asking for a person
once, and a manager who takes each request in Telegram, answers the customer and resolves it.

Every customer message carries a token of its own (`[c7-3]`: customer 7, message 3), so it can
be found again in the history, in the topic mirror and in the timings."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass, field
from uuid import UUID

import aiohttp
import asyncpg

from tests.factories import WEBHOOK_SECRET
from tests.telegram.fakes import FakeTelegram, callback, topic_message

QUESTIONS = ("сколько стоит маникюр", "где вы находитесь", "до скольки вы работаете",
             "есть ли у вас парковка", "как к вам записаться", "сколько стоит педикюр")
ASK_FOR_PERSON = "позовите менеджера, пожалуйста"
POST_DEADLINE = 120.0  # one message keeps being offered this long at most


def jid_of(customer: int) -> str:
    return f"7705{customer:07d}@s.whatsapp.net"


@dataclass
class Message:
    key: str  # ChatFlow's messageId
    customer: int
    text: str
    token: str
    first_try: float = 0.0  # monotonic
    accepted: float = 0.0  # when a 200 came back
    tries: int = 0


@dataclass
class Customers:
    """`count` customers, `per_customer` messages each, spread over about `spread` seconds."""

    url: str
    slug: str
    rng: random.Random
    count: int = 40
    per_customer: int = 10
    spread: float = 30.0
    messages: list[Message] = field(default_factory=list)

    def escalates(self, customer: int) -> bool:
        return customer % 5 == 0

    async def run(self, http: aiohttp.ClientSession) -> None:
        await asyncio.gather(*(self._customer(http, c) for c in range(self.count)))

    async def _customer(self, http: aiohttp.ClientSession, customer: int) -> None:
        pause = self.spread / self.per_customer
        for index in range(self.per_customer):
            await asyncio.sleep(self.rng.uniform(0.2, 1.8) * pause)
            token = f"[c{customer}-{index}]"
            asks = self.escalates(customer) and index == 3
            text = f"{ASK_FOR_PERSON if asks else self.rng.choice(QUESTIONS)}? {token}"
            message = Message(f"crash-{customer}-{index}", customer, text, token)
            self.messages.append(message)
            await self._post(http, message)

    async def _post(self, http: aiohttp.ClientSession, message: Message) -> None:
        body = {"messageType": "text", "message": message.text,
                "metadata": {"sender": f"Клиент {message.customer}", "messageId": message.key,
                             "remoteJid": jid_of(message.customer), "timestamp": 1764929737}}
        message.first_try = time.monotonic()
        while time.monotonic() - message.first_try < POST_DEADLINE:
            message.tries += 1
            try:
                async with http.post(f"{self.url}/webhook/{self.slug}", json=body,
                                     params={"webhook_secret": WEBHOOK_SECRET},
                                     timeout=aiohttp.ClientTimeout(total=10)) as response:
                    await response.read()
                    if response.status == 200:
                        message.accepted = time.monotonic()
                        return
                    assert response.status >= 500, f"webhook answered {response.status}"
            except (aiohttp.ClientError, TimeoutError):
                pass  # down or restarting: ChatFlow offers it again
            await asyncio.sleep(0.25)
        raise AssertionError(f"message {message.key} was never accepted")


@dataclass
class Manager:
    """Takes every request once its card is in the topic, answers in the topic, resolves."""

    db: asyncpg.Pool
    telegram: FakeTelegram
    token: str
    chat_id: int
    answers: dict[UUID, str] = field(default_factory=dict)  # handover → the manager's text
    pushed: list[int] = field(default_factory=list)  # update ids
    _ids: itertools.count = field(default_factory=lambda: itertools.count(9000))
    _done: dict[UUID, str] = field(default_factory=dict)  # handover → last step pushed

    async def run(self, until: asyncio.Event, expected: int) -> None:
        """Work the desk until `until` is set and `expected` requests were resolved."""
        while not (until.is_set() and sum(s == "resolve" for s in self._done.values()) >= expected):
            await self._step()
            await asyncio.sleep(0.3)

    async def _step(self) -> None:
        rows = await self.db.fetch(
            """SELECT h.id, h.status, h.telegram_message_id, c.telegram_topic_id
                 FROM handovers h JOIN conversations c ON c.id = h.conversation_id
                WHERE h.telegram_message_id IS NOT NULL""")
        for row in rows:
            handover, step = row["id"], self._done.get(row["id"])
            topic, card = row["telegram_topic_id"], row["telegram_message_id"]
            if step is None and row["status"] == "pending":
                self._press(f"take:{handover}", card, topic)
                self._done[handover] = "take"
            elif step == "take" and row["status"] == "active":
                text = f"Здравствуйте, это менеджер, отвечаю на заявку {len(self.answers) + 1}"
                self.answers[handover] = text
                update = self.telegram.push_update(self.token, topic_message(
                    self.chat_id, topic, text, message_id=next(self._ids)))
                self.pushed.append(update["update_id"])
                self._done[handover] = "answer"
            elif step == "answer" and await self._relayed(self.answers[handover]):
                self._press(f"resolve:{handover}", card, topic)
                self._done[handover] = "resolve"

    def _press(self, data: str, card: int, topic: int) -> None:
        update = self.telegram.push_update(self.token, callback(
            self.chat_id, data, message_id=card, thread_id=topic,
            query_id=f"q{next(self._ids)}"))
        self.pushed.append(update["update_id"])

    async def _relayed(self, text: str) -> bool:
        return bool(await self.db.fetchval(
            "SELECT count(*) FROM messages WHERE role = 'manager' AND content = $1", text))

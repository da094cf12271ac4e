"""The LLM answer path end to end against a scripted fake OpenAI server: the exact prompt sent
(snapshot files in snapshots/; `UPDATE_SNAPSHOTS=1` rewrites them after an intended change),
the context budget that never cuts a fact, the fallback for an ungrounded answer, and the
latency and token metrics."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import pytest
from aiohttp.test_utils import TestServer

from ai.llm import OpenAIChat
from core.answer_extraction import learned_content
from core.answers import Answerer
from core.knowledge_types import Passage
from core.models import Client, ClientSettings, HistoryLine, Role
from core.ports import AnswerRequest
from core.prompting import context_block
from core.result import Result
from core.texts import CUSTOMER_DEFAULTS
from gateway import metrics
from tests.fakes import FakeOpenAI

SNAPSHOTS = Path(__file__).parent / "snapshots"
CLIENT = Client(UUID(int=1), "shafran", "Шафран", "active", ClientSettings())
PRICES = Passage(
    "Ногтевой сервис > Маникюр: цены\n"
    "Маникюр классический (обрезной) без покрытия — Длительность: 45 мин; Мастер: 4 500 ₸; "
    "Топ-мастер: 5 800 ₸\n"
    "Маникюр + покрытие гель-лак однотонное — Длительность: 1 ч 40 мин; Мастер: 8 900 ₸; "
    "Топ-мастер: 11 200 ₸",
    "04_uslugi_nogti", "document", 0.86,
    matched=("Маникюр + покрытие гель-лак однотонное — Длительность: 1 ч 40 мин; "
             "Мастер: 8 900 ₸; Топ-мастер: 11 200 ₸",))
PARKING = Passage("Вопрос: Есть парковка?\nОтвет: Да, 6 бесплатных мест во дворе.", "learned",
                  "learned", 0.93)
HISTORY = [
    HistoryLine(Role.USER, "Сәлеметсіз бе"),
    HistoryLine(Role.ASSISTANT, "Здравствуйте! Чем могу помочь?"),
    HistoryLine(Role.MANAGER, "Менеджер Айгерим: запись на субботу есть"),
]


class FixedKnowledge:
    """The knowledge port answering given passages (the retrieval itself is tested elsewhere)."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        self.passages = list(passages)

    async def embed_query(self, text: str) -> list[float]:
        return [0.0]

    async def search(self, client_slug: str, query: str, **kwargs: object) -> Result[list[Passage]]:
        return Result.success(self.passages)

    def best_answer(self, passages: Sequence[Passage], question: str | None = None) -> str | None:
        return passages[0].content if passages else None


@pytest.fixture
async def openai(aiohttp_server) -> tuple[FakeOpenAI, str]:
    fake = FakeOpenAI(reply="Маникюр с гель-лаком стоит 8 900 ₸.")
    server: TestServer = await aiohttp_server(fake.app, host="127.0.0.1")
    return fake, str(server.make_url("/v1"))


def chat(url: str, **kwargs: object) -> OpenAIChat:
    return OpenAIChat(api_key="sk-test", base_url=url, model="gpt-4o-mini", timeout=5,
                      max_retries=0, **kwargs)  # type: ignore[arg-type]


def request(question: str, *, language: str | None = None, prompt: str | None = None,
            history: Sequence[HistoryLine] = HISTORY, desk: bool = True) -> AnswerRequest:
    return AnswerRequest(client=CLIENT, system_prompt=prompt, question=question,
                         history=history, knowledge_tag=None, language=language, desk=desk)


def assert_snapshot(name: str, sent: dict) -> None:
    path = SNAPSHOTS / f"{name}.json"
    document = {"model": sent["model"], "messages": sent["messages"]}
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", "utf-8")
    assert document == json.loads(path.read_text("utf-8")), f"prompt differs from {path}"


@pytest.mark.parametrize(("name", "passages", "turn"), [
    ("prompt_kazakh_price_with_history", [PRICES, PARKING],
     request("Маникюр гель-лакпен қанша тұрады?", language="kk",
             prompt="Ты администратор салона «Шафран» в Алматы. Пиши тепло и коротко.")),
    ("prompt_nothing_found_default_prompt", [],
     request("У вас есть солярий?", history=[])),
    ("prompt_nothing_found_no_desk", [],  # no desk: a call is offered, not a manager
     request("У вас есть солярий?", history=[], desk=False)),
])
async def test_the_exact_prompt_of_representative_turns(openai, name, passages, turn) -> None:
    fake, url = openai
    llm = chat(url)
    answer = await Answerer(FixedKnowledge(passages), llm).answer(turn)
    await llm.aclose()
    sent = fake.answer_requests()
    assert len(sent) == 1 and answer.source in ("llm", "fallback")
    assert_snapshot(name, sent[0])


def test_context_is_cut_to_the_budget_between_lines_never_inside_one() -> None:
    rows = [f"Услуга {i} — Мастер: {i} 100 ₸; Топ-мастер: {i} 900 ₸" for i in range(60)]
    passages = [Passage("Цены > Маникюр\n" + "\n".join(rows[:30]), "prices", "document", 0.9),
                Passage("Цены > Педикюр\n" + "\n".join(rows[30:]), "prices", "document", 0.8)]
    for budget in (200, 700, 1500, 2500):
        block = context_block(passages, budget)
        assert len(block) <= budget
        lines = [line for line in block.split("\n") if line and not line.startswith("[")]
        assert lines and all(line in rows or line in ("Маникюр", "Педикюр") for line in lines)
        assert block.startswith("[1] (prices)\nМаникюр\nУслуга 0 — ")
    assert "[2] (prices)" in context_block(passages, 2500)


def test_context_packs_every_passage_s_matched_line_before_neighbouring_lines() -> None:
    rows = [f"Услуга {i} — Мастер: {i} 100 ₸; Топ-мастер: {i} 900 ₸" for i in range(12)]
    hours = "Часы работы\nПн–Пт: 10:00–21:00\nСб–Вс: 10:00–18:00\n31 декабря: 10:00–15:00"
    passages = [Passage("Цены > Маникюр\n" + "\n".join(rows), "prices", "document", 0.9,
                        matched=(rows[5],)),
                Passage(hours, "hours", "document", 0.8, matched=("31 декабря: 10:00–15:00",))]
    block = context_block(passages, 400)
    assert len(block) <= 400
    second = block.split("\n\n")[1].split("\n")
    assert second[:2] == ["[2] (hours)", "Часы работы"] and second[-1] == "31 декабря: 10:00–15:00"
    first = block.split("\n\n")[0].split("\n")
    assert first[:2] == ["[1] (prices)", "Маникюр"] and rows[5] in first
    assert first[2:] == [row for row in rows if row in first[2:]]  # document order kept
    learned = Passage(learned_content("Где оставить машину?", "Во дворе нельзя.\nПаркинг ТРЦ рядом."),
                      "learned", "learned", 0.95, matched=("Ответ: Во дворе нельзя.\nПаркинг ТРЦ рядом.",))
    assert context_block([learned, passages[0]], 150) == (  # the learned answer whole, first
        "[1] (ответ менеджера)\nВопрос: Где оставить машину?\nОтвет: Во дворе нельзя.\n"
        "Паркинг ТРЦ рядом.")


def test_context_takes_a_part_s_line_right_after_the_first_passage_s() -> None:
    """A question asking two things: the passage its other part's search found comes last, but
    its matched line goes in before the lines of the passages between."""
    rows = [f"Услуга {i} — Мастер: {i} 100 ₸; Топ-мастер: {i} 900 ₸" for i in range(12)]
    saturday = "Суббота: 10:00–18:00, последняя запись на маникюр за час до закрытия"
    passages = [Passage("Цены > Маникюр\n" + "\n".join(rows[:4]), "prices", "document", 0.9,
                        matched=(rows[0],)),
                *(Passage(f"Цены > Раздел {i}\n{rows[i]}", "prices", "document", 0.8,
                          matched=(rows[i],)) for i in range(4, 12)),
                Passage(f"Часы работы\n{saturday}", "hours", "document", 0.7,
                        matched=(saturday,), part="до скольки в субботу")]
    block = context_block(passages, 300)
    assert len(block) <= 300
    labels = [chunk.split("\n")[0] for chunk in block.split("\n\n")]
    assert labels[0] == "[1] (prices)" and labels[-1].endswith("(hours)")
    assert block.endswith(f"Часы работы\n{saturday}")
    assert len(labels) < len(passages)  # the passages between did not all fit
    without = context_block([replace(p, part=None) for p in passages], 300)
    assert saturday not in without  # as a plain last passage it would not have


async def test_an_ungrounded_answer_without_passages_becomes_the_fallback(openai) -> None:
    fake, url = openai
    llm = chat(url)
    invented = await Answerer(FixedKnowledge([]), llm).answer(request("Сколько стоит солярий?"))
    deskless = await Answerer(FixedKnowledge([]), llm).answer(
        request("Сколько стоит солярий?", desk=False))
    fake.reply = "Уточню этот вопрос: напишите «менеджер», и вам ответит человек."
    modest = await Answerer(FixedKnowledge([]), llm).answer(request("Сколько стоит солярий?"))
    fake.reply = "Маникюр с гель-лаком стоит 8 900 ₸."
    backed = await Answerer(FixedKnowledge([PRICES]), llm).answer(request("Цена маникюра?"))
    await llm.aclose()
    assert (invented.source, invented.text) == ("fallback", CUSTOMER_DEFAULTS["fallback"])
    assert (deskless.source, deskless.text) == ("fallback", CUSTOMER_DEFAULTS["fallback_no_desk"])
    assert modest.source == "llm" and "менеджер" in modest.text
    assert (backed.source, backed.text) == ("llm", "Маникюр с гель-лаком стоит 8 900 ₸.")


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_llm_latency_and_token_usage_are_measured(openai) -> None:
    fake, url = openai
    fake.delay = 0.2
    fake.usage = {"prompt_tokens": 812, "completion_tokens": 17, "total_tokens": 829}
    before = (sample("truffles_llm_seconds_count", purpose="answer"),
              sample("truffles_llm_seconds_sum", purpose="answer"),
              sample("truffles_llm_tokens_total", purpose="answer", kind="prompt"),
              sample("truffles_llm_tokens_total", purpose="answer", kind="completion"))
    llm = chat(url, observer=metrics.record_llm_call)
    answer = await Answerer(FixedKnowledge([PRICES]), llm).answer(request("Цена маникюра?"))
    await llm.aclose()
    assert answer.source == "llm"
    assert sample("truffles_llm_seconds_count", purpose="answer") == before[0] + 1
    assert sample("truffles_llm_seconds_sum", purpose="answer") >= before[1] + 0.2
    assert sample("truffles_llm_tokens_total", purpose="answer", kind="prompt") == \
        before[2] + fake.usage["prompt_tokens"]
    assert sample("truffles_llm_tokens_total", purpose="answer", kind="completion") == \
        before[3] + fake.usage["completion_tokens"]


async def test_the_client_sends_its_key_and_not_the_machine_s_platform(openai) -> None:
    fake, url = openai
    llm = chat(url)
    assert (await llm.complete([{"role": "user", "content": "Цена маникюра?"}])).ok
    await llm.aclose()
    headers = {name.lower(): value for name, value in fake.headers[-1].items()}
    assert headers["authorization"] == "Bearer sk-test"
    assert not {"x-stainless-os", "x-stainless-arch", "x-stainless-runtime-version",
                "x-stainless-lang"} & set(headers)

"""The decision layer measured on the held-out split with the bundled embedder and no LLM,
through the production Decider: the issue's floors and the levels reached; the examples of the
issue; the eval command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from ai.embedding_cache import CachedEmbedder
from core.calibration import thresholds_for
from gateway import eval_cli
from gateway.decision_eval import Labelled, Outcome, run_decisions
from gateway.decision_report import floors, format_report, report
from gateway.settings import Settings
from tests.knowledge.test_embedders import DIM, FakeEmbeddingServer, fake


def _failing(outcomes: list[Outcome]) -> list[str]:
    return [f"{f.text}: {f.value:.3f} (bound {f.bound})" for f in floors(outcomes) if not f.met]


async def test_held_out_floors_of_the_issue(held_out: list[Outcome]) -> None:
    assert _failing(held_out) == []


async def test_held_out_does_not_fall_below_what_it_reaches(held_out: list[Outcome]) -> None:
    """The levels reached on the held-out split (README), so that a change that makes the
    decisions worse fails here rather than in front of a customer. The held-out split is the
    round-5 set (450 messages by an author who saw neither the code nor the earlier messages),
    measured once after all tuning; nothing was tuned on it."""
    reached = {f.name: f.value for f in floors(held_out)}
    assert reached["escalation_recall"] >= 0.95
    assert reached["false_escalation_rate"] <= 0.025


def test_the_report_has_every_figure(held_out: list[Outcome]) -> None:
    data = report(held_out, split="held-out", embedder="local-e5-small-384",
                  thresholds=thresholds_for("local-e5-small-384"))
    assert data["messages"] == 450
    assert set(data["topics"]) == {"human_request", "payment", "booking_change", "medical",
                                   "complaint", "legal"}
    assert {"precision", "recall", "f1", "support"} <= set(data["escalation"])
    assert len(data["errors"]) == sum(not o.correct for o in held_out)
    text = format_report(data)
    assert "escalation" in text and "floors:" in text and f"errors ({len(data['errors'])})" in text


def _message(text: str, label: str, topic: str | None = None) -> Labelled:
    # The guide's rule: an injury after a procedure is a complaint, and medical is right too.
    also = ("medical",) if text in INJURIES else ()
    return Labelled(text[:20], text, label, (topic, *also) if topic else (), "issue", "plain", "issue")


INJURIES = {"после воска ожог на ноге", "порезали палец на маникюре", "после пилинга раздражение"}


# The issue's examples, in words written for this test.
ANSWERED = ["пожалуйста", "спасибо большое, всё очень понравилось", "сколько стоит маникюр, пожалуйста?",
            "Пожалуйста, подскажите адрес", "спасибо, мастер Айгерим просто золото"]
ESCALATED = {
    "payment": ["Kaspi Red можно оформить?", "оплачу через каспи голд, на какой номер?",
                "Kaspi QR есть на кассе?", "наличными можно расплатиться?", "безналом от ТОО можно?",
                "скиньте реквизиты для оплаты", "пришлите IBAN пожалуйста", "выставите счёт на компанию",
                "терминал у вас есть? картой хочу", "перевела вам 5000, проверьте", "рассрочка есть?"],
    "complaint": ["качество ужасное, я недовольна", "покрытие слезло на следующий день",
                  "после воска ожог на ноге", "порезали палец на маникюре", "после пилинга раздражение",
                  "мастер хамила весь сеанс", "мастер опоздал на полчаса", "мастер вообще не пришла",
                  "ждала сорок минут, никто не вышел", "я очень разочарована", "бесполезный бот, ты тупой"],
    "booking_change": ["можно сдвинуть мою запись на час позже?", "не смогу прийти завтра",
                       "давайте я приду в другой день, завтра никак", "опаздываю на 10 минут"],
    "human_request": ["можно поговорить с живым человеком?", "перезвоните мне пожалуйста",
                      "дайте номер администратора", "адаммен сөйлескім келеді"],
}


async def test_the_issues_examples(e5: CachedEmbedder) -> None:
    messages = [_message(t, "reply") for t in ANSWERED] + [
        _message(t, "escalate", topic) for topic, texts in ESCALATED.items() for t in texts]
    wrong = [(o.message.text, o.label, o.topic) for o in await run_decisions(e5, messages)
             if not o.correct]
    assert wrong == []


async def test_eval_decisions_runs_with_tei_against_a_fake(fake: tuple[FakeEmbeddingServer, str], settings: Settings,
                                                          capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    server, url = fake
    tei = settings.model_copy(update={"embeddings_provider": "tei", "embeddings_url": url,
                                      "embeddings_model": "test-model"})
    parser = argparse.ArgumentParser()
    eval_cli.register(parser.add_subparsers(dest="command"))
    cache = tmp_path / "vectors.npz"
    args = parser.parse_args(["eval", "decisions", "--split", "held-out", "--json",
                              "--cache", str(cache)])
    assert await eval_cli.eval_decisions(args, tei) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["messages"] == 450 and data["embedder"].startswith("tei-")
    assert data["thresholds"] is None  # not calibrated: rules only
    assert 0 < data["escalation"]["recall"] <= 1 and server.requests
    with np.load(cache) as kept:  # every held-out message, embedded once
        assert len(kept["keys"]) >= 450 and kept["vectors"].shape[1] == DIM


__all__ = ["fake"]

"""Figures of a decision evaluation (`gateway.decision_eval`): accuracy, escalation precision /
recall / F1 overall and per topic, the floors of the issue, and the errors; as a dict (for
`--json` and the tests) and as text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.calibration import DecisionThresholds
from gateway.decision_eval import Outcome

TOPICS = ("human_request", "payment", "booking_change", "medical", "complaint", "legal")
SMALL_TALK_KINDS = ("greeting", "thanks", "compliment")


@dataclass(frozen=True, slots=True)
class Floor:
    name: str
    text: str
    value: float
    bound: float
    at_least: bool  # the value must be ≥ bound (else ≤)

    @property
    def met(self) -> bool:
        return self.value >= self.bound if self.at_least else self.value <= self.bound


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "support": tp + fn}


def floors(outcomes: Sequence[Outcome]) -> list[Floor]:
    """The issue's floors: escalation recall ≥ 95 %, false escalations ≤ 3 % of reply cases,
    greetings, thanks and compliments never escalated, every request for a person escalated,
    questions about the bot never escalated."""
    escalations = [o for o in outcomes if o.message.label == "escalate"]
    replies = [o for o in outcomes if o.message.label == "reply"]
    humans = [o for o in escalations if o.message.topics[0] == "human_request"]

    def share(group: Sequence[Outcome]) -> float:
        return sum(o.label == "escalate" for o in group) / len(group) if group else 0.0

    def count(kinds: Sequence[str]) -> float:
        return sum(o.label == "escalate" for o in outcomes if o.message.kind in kinds)

    return [
        Floor("escalation_recall", "escalation recall", share(escalations), 0.95, True),
        Floor("false_escalation_rate", "false escalations of reply cases", share(replies), 0.03, False),
        Floor("small_talk_escalated", "greetings, thanks, compliments escalated",
              count(SMALL_TALK_KINDS), 0, False),
        Floor("human_requests_escalated", "requests for a person escalated", share(humans), 1.0, True),
        Floor("bot_questions_escalated", "questions about the bot escalated", count(("bot_question",)),
              0, False),
    ]


def report(outcomes: Sequence[Outcome], *, split: str, embedder: str,
           thresholds: DecisionThresholds | None) -> dict[str, Any]:
    gold = [o.message.label == "escalate" for o in outcomes]
    said = [o.label == "escalate" for o in outcomes]
    tp = sum(g and s for g, s in zip(gold, said, strict=True))
    topics = {}
    for topic in TOPICS:
        hit = sum(o.correct and o.topic == topic for o in outcomes)
        wrong = sum(o.topic == topic and not o.correct for o in outcomes)
        missed = sum(o.message.topics[:1] == (topic,) and not o.correct for o in outcomes)
        topics[topic] = _prf(hit, wrong, missed)
    return {
        "split": split, "embedder": embedder, "messages": len(outcomes),
        "thresholds": None if thresholds is None else
        {"escalate": round(thresholds.escalate, 3), "overrule": round(thresholds.overrule, 3),
         "mute": round(thresholds.mute, 3)},
        "accuracy": round(sum(o.correct for o in outcomes) / max(len(outcomes), 1), 4),
        "escalation": _prf(tp, sum(said) - tp, sum(gold) - tp),
        "topics": topics,
        "floors": [{"name": f.name, "text": f.text, "value": round(f.value, 4), "bound": f.bound,
                    "at_least": f.at_least, "met": f.met} for f in floors(outcomes)],
        "errors": [{"id": o.message.id, "text": o.message.text, "kind": o.message.kind,
                    "expected": _said(o.message.label, o.message.topics[:1] or (None,)),
                    "got": _said(o.label, (o.topic,)), "why": o.detail}
                   for o in outcomes if not o.correct],
    }


def _said(label: str, topics: Sequence[str | None]) -> str:
    return f"{label}/{topics[0]}" if label == "escalate" else label


def _percent(value: float) -> str:
    return f"{value * 100:.1f} %"


def format_report(data: dict[str, Any]) -> str:
    thresholds = data["thresholds"]
    lines = [
        f"decisions: {data['split']} ({data['messages']} messages), embedder {data['embedder']}, "
        + (f"escalate ≥ {thresholds['escalate']:.3f}, overrule < {thresholds['overrule']:.3f}, "
           f"mute ≥ {thresholds['mute']:.3f}"
           if thresholds else "no semantic thresholds (rules only)"),
        f"accuracy {_percent(data['accuracy'])}",
        "",
        f"{'':<16}{'precision':>10}{'recall':>9}{'F1':>8}{'n':>6}",
    ]
    rows = [("escalation", data["escalation"]), *data["topics"].items()]
    for name, figures in rows:
        lines.append(f"{name:<16}{_percent(figures['precision']):>10}{_percent(figures['recall']):>9}"
                     f"{figures['f1']:>8.3f}{figures['support']:>6}")
    lines += ["", "floors:"]
    for floor in data["floors"]:
        value = floor["value"]
        shown = f"{value:.0f}" if floor["bound"] in (0, 0.0) else _percent(value)
        bound = f"{floor['bound']:.0f}" if floor["bound"] in (0, 0.0) else _percent(floor["bound"])
        sign = "≥" if floor["at_least"] else "≤"
        mark = "ok  " if floor["met"] else "FAIL"
        lines.append(f"  {mark} {floor['text']:<44} {shown:>8}  ({sign} {bound})")
    lines += ["", f"errors ({len(data['errors'])}):"]
    for error in data["errors"]:
        why = error["why"] or {}
        because = why.get("source", "")
        if why.get("matched"):
            because += f" «{why['matched']}»"
        if why.get("score") is not None:
            because += f" {why['score']:.3f}"
        lines.append(f"  {error['id']:<12} {error['expected']:>22} → {error['got']:<22} "
                     f"{error['text']!r}" + (f"  [{because}]" if because else ""))
    return "\n".join(lines)


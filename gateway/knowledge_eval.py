"""Retrieval and no-LLM answer quality on the labelled sets (knowledge/eval/retrieval/*.yaml,
labelling guide GUIDE.md next to them), per base and per question kind.

`python -m gateway knowledge eval [--split held-out] [--json]` ingests each base of
knowledge/bases/ into a scratch embedded store with the configured embedder and asks every
question as served (thresholds, normalisation and re-ranking included). Figures, over the
questions the base can answer unless said otherwise:

- recall@1 / @3 / @5: the share of the needed facts found in the first k passages (a question
  needing two facts counts half when one is there); `all@k` in the JSON counts a question only
  when every fact is there;
- recall@1500ch: the same within the first 1,500 characters of context as the LLM prompt lays
  the passages out (whole lines only, `core.prompting.context_block`);
- reply: the share of questions whose no-LLM reply (`KnowledgeBase.best_answer`, else the
  no-answer text) holds every needed fact;
- no-answer precision: of the questions the search found nothing for, the share the base
  really cannot answer; no-answer recall: of those the base cannot answer, the share that got
  nothing (no passage above the threshold).

A fact matches case-insensitively with runs of whitespace (NBSP included) folded to one space,
within one line of the text, a time range in any of its spellings: "8:00 – 23:00", "8:00-23:00",
"с 8:00 до 23:00", "от 8:00 до 23:00" and "8:00-ден 23:00-ге дейін" are one fact (a label copies
one of them, and the base may state the same hours elsewhere in another). A label may also name
other statements of the same fact (`facts: [["Вс 10:00–16:00", "Воскресенье — Клиника (приём
врачей): 10:00–16:00"]]`: a table row and an FAQ line, a Russian and a Kazakh page): any of them
is the fact.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.knowledge import KnowledgeBase
from core.knowledge_types import ScoreThresholds
from core.ports import Embedder, Reranker
from core.prompting import context_block
from storage.vectors import EdgeVectorStore, collection_name

REPOSITORY = Path(__file__).resolve().parent.parent
BASES_DIR = REPOSITORY / "knowledge" / "bases"
CASES_DIR = REPOSITORY / "knowledge" / "eval" / "retrieval"
# the last has held-out questions only: a base nothing was fitted or tuned on
BASES = ("salon_almaty", "clinic_astana", "shop_delivery", "fitness_almaty", "edu_astana",
         "vet_karaganda", "cafe_aktobe", "autoservice_shymkent")
SPLITS = ("dev", "held-out")
CONTEXT_CHARS = 1500
TOP_K = 5
_SPACES = re.compile(r"[\s\u00a0\u202f]+")
_TIME = r"(\d{1,2}:\d{2})"
_RANGES = (re.compile(_TIME + r" ?[-–—] ?" + _TIME),
           re.compile(r"\b(?:с|от) " + _TIME + " до " + _TIME),
           re.compile(_TIME + "-(?:ден|тен|дан|тан|нан) " + _TIME + "-(?:ге|ке|ға|қа)(?: дейін)?"))


# One needed fact: its spellings in the base, the label's own first (any of them is the fact).
Fact = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    base: str
    question: str
    facts: tuple[Fact, ...]
    kind: str
    style: str
    split: str


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    ranks: tuple[int | None, ...]  # per fact: the smallest k whose top-k passages hold it
    in_context: tuple[bool, ...]  # per fact: within the context budget
    found_nothing: bool
    reply: str
    reply_has_facts: bool

    def recall(self, k: int) -> float:
        return sum(1 for r in self.ranks if r is not None and r <= k) / len(self.ranks)

    def all_at(self, k: int) -> bool:
        return all(r is not None and r <= k for r in self.ranks)


def fold(text: str) -> str:
    folded = _SPACES.sub(" ", text).strip().casefold()
    for spelling in _RANGES:
        folded = spelling.sub(r"\1–\2", folded)
    return folded


def has_facts(text: str, facts: Iterable[str | Fact]) -> bool:
    """Every fact (one of its spellings) is in one line of the text, a number only as a whole
    one: "4 300 ₸" is not found inside "14 300 ₸" (numbers are written with spaces between
    thousands), but a line that starts with a number is no part of the previous line's last
    one."""
    return folded_has_facts(fold_lines(text), facts)


def fold_lines(text: str) -> str:
    """The text's lines folded (`fold`), for several look-ups in one text."""
    return "\n".join(fold(line) for line in text.split("\n"))


def folded_has_facts(folded: str, facts: Iterable[str | Fact]) -> bool:
    """`has_facts` in a text folded by `fold_lines`."""
    return all(any(_fact_pattern(fold(spelling)).search(folded)
                   for spelling in ((fact,) if isinstance(fact, str) else fact))
               for fact in facts)


def _fact_pattern(fact: str) -> re.Pattern[str]:
    head = r"(?<!\d)(?<!\d )" if fact[:1].isdigit() else ""
    tail = r"(?! ?\d)" if fact[-1:].isdigit() else ""
    return re.compile(head + re.escape(fact) + tail)


def _odd(case: Case) -> bool:
    return int(re.findall(r"\d+$", case.id)[0]) % 2 == 1


# The parts a calibration holds back in turn (fitted on the rest, measured on the part): each
# base (what a new client's base gets), then odd and even ids (new questions on known bases).
HELD_BACK: tuple[tuple[str, Callable[[Case], bool]], ...] = (
    *((f"base {base}", lambda case, base=base: case.base == base) for base in BASES),
    ("odd ids", _odd),
    ("even ids", lambda case: not _odd(case)),
)


def load_cases(base: str, split: str | None = None, folder: Path = CASES_DIR) -> list[Case]:
    document: dict[str, Any] = yaml.safe_load((folder / f"{base}.yaml").read_text("utf-8"))
    cases = [
        Case(id=str(item["id"]), base=base, question=str(item["q"]),
             facts=tuple(_spellings(f) for f in item.get("facts") or ()), kind=str(item["kind"]),
             style=str(item["style"]), split=str(item["split"]))
        for item in document["cases"]
    ]
    return [c for c in cases if split is None or c.split == split]


def _spellings(fact: str | list[str]) -> Fact:
    return tuple(str(f) for f in fact) if isinstance(fact, list) else (str(fact),)


async def ingest_folder(kb: KnowledgeBase, client_slug: str, folder: Path) -> int:
    documents = await asyncio.to_thread(_read_markdown, folder)
    chunks = 0
    for doc_name, text in documents:
        chunks += (await kb.ingest_document(client_slug, doc_name, text)).chunks
    return chunks


def _read_markdown(folder: Path) -> list[tuple[str, str]]:
    return [(p.stem, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.md"))]


async def ask(kb: KnowledgeBase, client_slug: str, case: Case, no_answer_text: str) -> Outcome:
    """One question as served; a failed search counts as finding nothing."""
    result = await kb.search(client_slug, case.question, limit=TOP_K)
    passages = result.value if result.ok and result.value else []
    reply = kb.best_answer(passages, case.question) or no_answer_text
    context = fold_lines(context_block(passages, CONTEXT_CHARS))
    folded = [fold_lines(p.content) for p in passages]  # once, for every fact
    return Outcome(
        case=case,
        ranks=tuple(next((k for k, text in enumerate(folded, 1)
                          if folded_has_facts(text, [fact])), None) for fact in case.facts),
        in_context=tuple(folded_has_facts(context, [fact]) for fact in case.facts),
        found_nothing=not passages,
        reply=reply,
        reply_has_facts=bool(case.facts) and has_facts(reply, case.facts),
    )


def metrics(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    answerable = [o for o in outcomes if o.case.facts]
    unanswerable = [o for o in outcomes if not o.case.facts]
    declined = [o for o in outcomes if o.found_nothing]

    def share(items: Sequence[Outcome], hit: Any) -> float | None:
        return round(sum(float(hit(o)) for o in items) / len(items), 3) if items else None

    return {
        "questions": len(outcomes),
        **{f"recall@{k}": share(answerable, lambda o, k=k: o.recall(k)) for k in (1, 3, 5)},
        f"recall@{CONTEXT_CHARS}ch": share(answerable,
                                           lambda o: sum(o.in_context) / len(o.in_context)),
        "reply": share(answerable, lambda o: o.reply_has_facts),
        "no_answer_precision": share(declined, lambda o: not o.case.facts),
        "no_answer_recall": share(unanswerable, lambda o: o.found_nothing),
        **{f"all@{k}": share(answerable, lambda o, k=k: o.all_at(k)) for k in (1, 3, 5)},
        f"all@{CONTEXT_CHARS}ch": share(answerable, lambda o: all(o.in_context)),
    }


def report(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    by_base: dict[str, list[Outcome]] = defaultdict(list)
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_base[outcome.case.base].append(outcome)
        by_kind[outcome.case.kind].append(outcome)
    return {
        "all": metrics(outcomes),
        "bases": {base: metrics(items) for base, items in by_base.items()},
        "kinds": {kind: metrics(items) for kind, items in sorted(by_kind.items())},
    }


async def evaluate(
    embedder: Embedder,
    *,
    split: str | None = None,
    bases: Sequence[str] = BASES,
    reranker: Reranker | None = None,
    no_answer_text: str = "",
    thresholds: ScoreThresholds | None = None,
    only: Callable[[Case], bool] | None = None,
) -> list[Outcome]:
    """Ingest each base into a scratch knowledge base (one client per base) and ask its
    questions of `split` (every question when None; of those, the ones `only` keeps).
    `thresholds`: instead of the embedder's (a calibration trying its candidates)."""
    async with scratch_knowledge(embedder, reranker, thresholds) as kb:
        outcomes: list[Outcome] = []
        for base in bases:
            cases = [c for c in load_cases(base, split) if only is None or only(c)]
            if not cases:
                continue
            await ingest_folder(kb, base, BASES_DIR / base)
            for case in cases:
                outcomes.append(await ask(kb, base, case, no_answer_text))
        return outcomes


@asynccontextmanager
async def scratch_knowledge(embedder: Embedder, reranker: Reranker | None = None,
                            thresholds: ScoreThresholds | None = None,
                            ) -> AsyncIterator[KnowledgeBase]:
    """An empty knowledge base in a temporary embedded store, gone afterwards (evaluations and
    calibrations: the clients' own knowledge is never touched)."""
    with tempfile.TemporaryDirectory(prefix="truffles-eval-") as scratch:
        store = EdgeVectorStore(Path(scratch), collection_name("eval", embedder.name,
                                                               keep_base=False))
        await store.ensure_collection(embedder.dim)
        try:
            yield KnowledgeBase(embedder, store, reranker=reranker, thresholds=thresholds)
        finally:
            await store.aclose()


COLUMNS = ("recall@1", "recall@3", "recall@5", f"recall@{CONTEXT_CHARS}ch", "reply",
           "no_answer_precision", "no_answer_recall")


def format_report(embedder_name: str, split: str | None, result: dict[str, Any]) -> str:
    header = ["", "n", "R@1", "R@3", "R@5", f"R@{CONTEXT_CHARS}ch", "reply", "noans P", "noans R"]
    lines = [f"embedder {embedder_name}, split {split or 'all'}",
             f"{header[0]:<16}" + "".join(f"{h:>9}" for h in header[1:])]

    def row(name: str, values: dict[str, Any]) -> str:
        cells = "".join("        -" if values[c] is None else f"{values[c]:>9.3f}"
                        for c in COLUMNS)
        return f"{name:<16}{values['questions']:>9}{cells}"

    if not result["all"]["questions"]:
        return f"{lines[0]}\nno questions in this split"
    lines.append(row("all", result["all"]))
    lines.extend(row(base, values) for base, values in result["bases"].items())
    lines.extend(row(f"kind {kind}", values) for kind, values in result["kinds"].items())
    return "\n".join(lines)

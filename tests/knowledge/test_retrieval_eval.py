"""Retrieval and no-LLM answer quality on the dev and held-out splits of the labelled sets, with
the bundled model, and the eval command itself (also against fake TEI and OpenAI servers, as
`EMBEDDINGS_PROVIDER=tei|openai` runs it).

The bundled model's vectors of the three bases come from a cache file kept next to the sets
(`EVAL_VECTORS`, keyed by the exact text, so a changed chunk is embedded afresh and the figures
are the model's own): embedding the ~2,000 chunks takes minutes on 2 shared cores."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from ai.embedding_cache import CachedEmbedder
from ai.embeddings import LocalE5Embedder
from core.chunking import chunk_document
from gateway import knowledge_cli
from gateway.knowledge_eval import (
    BASES,
    BASES_DIR,
    CASES_DIR,
    Outcome,
    evaluate,
    fold_lines,
    folded_has_facts,
    has_facts,
    load_cases,
    report,
)
from gateway.settings import Settings

EVAL_VECTORS = CASES_DIR / "vectors.local-e5-small-384.npz"
# What the dev split (every question of rounds 1 to 9 over three bases, since round 13 200 over
# each of two more bases, since round 14 over two more again; everything is tuned there) must
# not fall below: the measured figures less a small margin (knowledge/README.md; round 10's code
# on 1,824: 0.744 / 0.937 / 0.914 / reply 0.754, no-answer 0.923 / 0.565; with a time range
# matched in any of its spellings, an evaluator fix: 0.754 / 0.941 / 0.918 / reply 0.766; round
# 13, 2,224 questions with the query map fitted on them: 0.848 / 0.977 / 0.963 / reply 0.853,
# no-answer 0.961 / 0.540; round 14, 2,607 questions over seven bases (a question asked twice
# kept once), the map refitted on them: 0.818 / 0.971 / 0.951 / reply 0.831, no-answer 0.938 /
# 0.544; round 16, the labels naming the base's other statements of a fact, an evaluator fix:
# 0.847 / 0.976 / 0.957 / reply 0.848; the map refitted on them and terms said in words searched
# by their months: 0.851 / 0.977 / 0.959 / reply 0.852; round 17, each part of a question
# asking two things searched on its own: reply 0.858; round 18, the no-answer model calibrated
# out of fold: no-answer 0.951 / 0.577; round 19, a part searched with the whole question's
# embedding, 10 candidates a branch: R@1500ch 0.961, reply 0.854; round 22, a second label
# audit, 287 more statements over 198 dev cases, the map refitted: 0.872 / 0.980 / 0.966 / reply
# 0.868, no-answer 0.951 / 0.570; the no-answer model recalibrated: 0.948 / 0.593; the synonyms
# of the newer trades, recalibrated again: 0.876 / 0.981 / 0.968 / 0.871, 0.957 / 0.590; round
# 23, a line for a question's third part when one speaks to it, a greeting no part: reply
# 0.877); round 25, the fusion's weights read again under the query map, the no-answer model
# recalibrated: 0.891 / 0.983 / 0.972 / reply 0.890, no-answer 0.963 / 0.603; round 27,
# headings without the document's title in the context: R@1500ch 0.978). They
# guard against regressions; the targets are judged on the held-out split.
DEV_FLOORS = {
    "recall@1": 0.85,
    "recall@5": 0.97,
    "recall@1500ch": 0.96,
    "reply": 0.85,
    "no_answer_precision": 0.92,
    "no_answer_recall": 0.55,
}
DEV_QUESTIONS = 2607
# three lines (a line a part of the question, then the close call; a unit is cut at ≤ 320
# characters, table rows run longer) + titles
MAX_REPLY = 1200
# What the held-out split must not fall below: round 10's fresh questions (168, written by three
# authors who each read only the guide and one base; more Kazakh and English than round 9's),
# measured on round 8's code: R@1 0.690, R@5 0.878, R@1500ch 0.867, reply 0.639, no-answer
# precision 0.900 (9 of 10 declines right), recall 0.429; on round 10's: R@1500ch 0.871, reply
# 0.673, the rest the same; with the customer's numbers in the line choice: reply 0.687; a
# fact matched within one line (an evaluator fix): R@1 0.697, R@5 0.884, R@1500ch 0.878; a time
# range in any of its spellings (another): R@1 0.724, R@5 0.905, R@1500ch 0.898, reply 0.707.
# With round 11's 168 fresh questions (written the same way): 336 questions, R@1 0.711, R@5
# 0.905, R@1500ch 0.886, reply 0.711, no-answer 0.864 / 0.452; with the query map (fitted on dev
# only, round 13): R@1 0.818, R@5 0.951, R@1500ch 0.935, reply 0.776, no-answer 0.900 / 0.429.
# With a fourth base written in round 13 and its 112 questions (two authors; nothing was ever
# fitted or tuned on this base): 448 questions, R@1 0.759, R@5 0.922, R@1500ch 0.898, reply
# 0.730, no-answer 0.800 / 0.429 (without the map 0.652 / 0.867 / 0.847 / 0.671, 0.781 / 0.446);
# the map refitted with two more dev bases: 0.754 / 0.922 / 0.901 / 0.737, 0.833 / 0.446; with
# four more (round 14): 0.759 / 0.920 / 0.903 / 0.735, 0.833 / 0.446; without the five held-out
# questions that were word for word dev questions too (round 14): 443 questions, 0.757 / 0.919
# / 0.902 / 0.733, 0.821 / 0.426 (without the map 0.652 / 0.866 / 0.846 / 0.668, 0.767 / 0.426).
# Round 16, the labels naming the base's other statements of a fact (an evaluator fix: the same
# fact in an FAQ line and a table row, a Russian and a Kazakh page): 0.785 / 0.922 / 0.909 /
# 0.758, no-answer unchanged; the map refitted: 0.785 / 0.924 / 0.910 / 0.763. Round 17, each
# part of a question asking two things searched on its own: reply 0.769, the rest unchanged.
# Round 18, the no-answer model calibrated on features taken out of fold and existence questions
# left to it: 0.788 / 0.927 / 0.913 / 0.771, no-answer 0.875 / 0.519. Round 19, a part searched
# with the whole question's embedding: reply 0.774, the rest unchanged.
# Round 21: 859 fresh questions over all eight bases (eight authors, one base each, blind),
# measured once on round 19's code: 0.766 / 0.936 / 0.913 / 0.762, no-answer 0.803 / 0.438; the
# split, now 1,302 questions (a third of all), 0.775 / 0.933 / 0.913 / 0.767, 0.828 / 0.464.
# Round 22, round 16's label audit done for round 21's questions (184 statements over 116 cases)
# and a second time for the rest (41 over 33 held-out cases, 287 over 198 dev ones), blind to
# search results; the map refitted on the dev labels: 0.800 / 0.938 / 0.921 / 0.792, no-answer
# 0.823 / 0.476 (round 21's map on the new labels: 0.801 / 0.939 / 0.922 / 0.793, 0.828 / 0.464);
# the no-answer model recalibrated under the new fold maps: no-answer 0.832 / 0.506; the synonyms
# of the newer dev bases' trades, recalibrated again: 0.801 / 0.942 / 0.924 / 0.791, 0.845 / 0.524.
# Round 23, a line for a question's third part when one speaks to it, a greeting no part: reply
# 0.799 (0.801 with a line for every third part). Round 25, the fusion's weights read again
# under the query map (on dev out of fold), the no-answer model recalibrated: 0.819 / 0.942 /
# 0.923 / 0.813, 0.846 / 0.530. Round 26, a later part's line from the first three passages:
# reply 0.817. Round 27, headings without the document's title in the context: R@1500ch 0.933.
HELD_OUT_FLOORS = {
    "recall@1": 0.80,
    "recall@5": 0.92,
    "recall@1500ch": 0.92,
    "reply": 0.80,
    "no_answer_precision": 0.82,
    "no_answer_recall": 0.50,
}
HELD_OUT_QUESTIONS = 1302
DEV_BASES = {"salon_almaty", "clinic_astana", "shop_delivery", "fitness_almaty", "edu_astana",
             "vet_karaganda", "cafe_aktobe"}
HELD_OUT_BASES = DEV_BASES | {"autoservice_shymkent"}


@pytest_asyncio.fixture(scope="session")
async def dev() -> AsyncIterator[list[Outcome]]:
    embedder = CachedEmbedder(LocalE5Embedder(), EVAL_VECTORS)
    yield await evaluate(embedder, split="dev", no_answer_text="NO_ANSWER")


@pytest_asyncio.fixture(scope="session")
async def held_out() -> AsyncIterator[list[Outcome]]:
    embedder = CachedEmbedder(LocalE5Embedder(), EVAL_VECTORS)
    yield await evaluate(embedder, split="held-out", no_answer_text="NO_ANSWER")


def assert_floors(outcomes: list[Outcome], floors: dict[str, float], *, bases: set[str],
                  base_recall_at_5: float) -> None:
    result = report(outcomes)
    assert set(result["bases"]) == bases
    for name, floor in floors.items():
        assert result["all"][name] >= floor, (name, result["all"])
    for base, values in result["bases"].items():
        assert values["recall@5"] >= base_recall_at_5, (base, values)


async def test_dev_quality_with_the_bundled_model_and_no_llm(dev) -> None:
    assert len(dev) == DEV_QUESTIONS
    assert_floors(dev, DEV_FLOORS, bases=DEV_BASES, base_recall_at_5=0.90)


async def test_held_out_quality_with_the_bundled_model_and_no_llm(held_out) -> None:
    if not held_out:
        pytest.skip("no held-out split until the next round's questions are merged")
    assert len(held_out) == HELD_OUT_QUESTIONS
    assert_floors(held_out, HELD_OUT_FLOORS, bases=HELD_OUT_BASES, base_recall_at_5=0.82)


async def test_no_llm_replies_state_the_fact_or_say_there_is_no_answer(dev) -> None:
    for outcome in dev:
        if outcome.found_nothing:
            assert outcome.reply == "NO_ANSWER"
        else:
            # at most three fact-sized lines under their titles, never a whole section
            assert outcome.reply != "NO_ANSWER" and len(outcome.reply) <= MAX_REPLY, outcome.reply
    answered = [o for o in dev if o.reply_has_facts]
    assert answered and all(o.case.facts for o in answered)


@pytest.mark.parametrize("base", BASES)
def test_every_labelled_fact_is_in_a_chunk_as_the_search_reads_it(base: str) -> None:
    """A fact copied from a table as "cell | cell" would be in no passage (a row reads "Name —
    Column: value; …"), and the question would count as a miss whatever the search did."""
    # the chunks as one text of their lines, folded once: a fact is matched within one line
    chunks = fold_lines("\n".join(chunk.text for path in sorted((BASES_DIR / base).glob("*.md"))
                                  for chunk in chunk_document(path.read_text(encoding="utf-8"))))
    missing = [(case.id, spelling) for case in load_cases(base) for fact in case.facts
               for spelling in fact if not folded_has_facts(chunks, [spelling])]
    assert missing == []


@pytest.mark.parametrize("base", BASES)
def test_no_question_is_asked_twice(base: str) -> None:
    """Authors writing blind still write the same question now and then ("Do you do ear piercing
    for kids?" in rounds 4 and 9; punctuation and case aside): a held-out copy of a dev question
    measures what the map was fitted on, and a dev copy weighs its question twice."""
    asked = Counter(" ".join(re.sub(r"[^\w\s]", " ", case.question.casefold()).split())
                    for case in load_cases(base))
    assert [question for question, count in asked.items() if count > 1] == []


def test_a_number_fact_matches_only_a_whole_number() -> None:
    assert has_facts("Ферритин — Цена: 4 300 ₸", ["4 300 ₸"])
    assert not has_facts("ТТГ — Цена: 14 300 ₸", ["4 300 ₸"])
    assert not has_facts("с 19:00 – 21:00", ["9:00 – 21:00"])
    assert has_facts("Пн–Пт\u00a09:00 – 21:00.", ["9:00 – 21:00"])
    assert has_facts("7 марта — 8:00 – 22:00\n21 марта (Наурыз) — 11:00", ["21 марта (Наурыз)"])


def test_a_fact_stated_twice_in_the_base_matches_either_statement() -> None:
    sunday = ("Вс 10:00–16:00", "Воскресенье — Клиника (приём врачей): 10:00–16:00")
    assert has_facts("Воскресенье — Клиника (приём врачей): 10:00–16:00; Груминг: 10:00–15:00",
                     [sunday])
    assert has_facts("«Центр»: Пн–Пт 08:00–20:00, Вс 10:00–16:00.", [sunday])
    assert not has_facts("Воскресенье — Груминг-салон: 10:00–16:00", [sunday])
    assert not has_facts("Вс 10:00–16:00", [sunday, ("8 500 ₸",)])  # every fact, one spelling each


def test_a_time_range_matches_in_any_of_its_spellings() -> None:
    """A label copies one spelling of the hours; the base may state them elsewhere in another."""
    assert has_facts("Оператор отвечает с 8:00 до 23:00, обычно", ["8:00 – 23:00"])
    assert has_facts("Анализы: от 8:00 до 10:30", ["8:00–10:30"])
    assert has_facts("Пн–Пт 9:00-18:00", ["с 9:00 до 18:00"])
    assert has_facts("жұмыс күндері 8:00-ден 10:30-ға дейін", ["с 8:00 до 10:30"])
    assert not has_facts("с 19:00 до 21:00", ["9:00 – 21:00"])  # still whole numbers only
    assert not has_facts("с 8:00 до 22:00", ["8:00 – 23:00"])


def fake_vector(text: str, dim: int = 64) -> list[float]:
    """A deterministic embedding from hashed character trigrams (similar texts, similar
    vectors), normalised."""
    vector = [0.0] * dim
    folded = f" {text.lower()} "
    for i in range(len(folded) - 2):
        vector[int(hashlib.md5(folded[i:i + 3].encode()).hexdigest(), 16) % dim] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


@pytest.fixture
async def fake_embeddings(aiohttp_server) -> str:
    """TEI's `/embed` and `/rerank` and OpenAI's `/v1/embeddings` on one local server; its
    cross-encoder scores the texts in reverse order (the worst re-ranker there is)."""

    async def tei(request: web.Request) -> web.Response:
        return web.json_response([fake_vector(t) for t in (await request.json())["inputs"]])

    async def openai(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({
            "object": "list", "model": body["model"],
            "data": [{"object": "embedding", "index": i, "embedding": fake_vector(text)}
                     for i, text in enumerate(body["input"])],
            "usage": {"prompt_tokens": len(body["input"]), "total_tokens": len(body["input"])},
        })

    async def rerank(request: web.Request) -> web.Response:
        texts = (await request.json())["texts"]
        return web.json_response([{"index": i, "score": float(i)} for i in range(len(texts))])

    app = web.Application()
    app.router.add_post("/embed", tei)
    app.router.add_post("/rerank", rerank)
    app.router.add_post("/v1/embeddings", openai)
    server = await aiohttp_server(app, host="127.0.0.1")
    return str(server.make_url("")).rstrip("/")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    knowledge_cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["knowledge", *argv])


@pytest.mark.parametrize("provider", ["tei", "openai"])
async def test_the_eval_command_runs_with_remote_embeddings(
    settings: Settings, fake_embeddings: str, provider: str, db,
    capsys: pytest.CaptureFixture[str]
) -> None:
    remote = settings.model_copy(update={
        "embeddings_provider": provider, "embeddings_model": "fake-m3",
        "embeddings_url": fake_embeddings + ("/v1" if provider == "openai" else "")})
    args = parse("eval", "--split", "held-out", "--base", "shop_delivery", "--json")
    assert await knowledge_cli.handle(args, remote) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["embedder"] == f"{provider}-fake-m3-64" and document["split"] == "held-out"
    assert document["all"]["questions"] == 216 and list(document["bases"]) == ["shop_delivery"]
    assert set(document["kinds"]) == {"price", "hours", "location", "policy", "service",
                                      "two_facts", "no_answer"}
    for name in ("recall@1", "recall@5", "recall@1500ch", "reply"):
        assert 0.0 <= document["all"][name] <= 1.0
    assert document["all"]["recall@1"] <= document["all"]["recall@5"]

    assert await knowledge_cli.handle(parse("eval", "--split", "all", "--base", "salon_almaty"),
                                      remote) == 0
    table = capsys.readouterr().out
    assert table.startswith(f"embedder {provider}-fake-m3-64, split all")
    assert "kind two_facts" in table and "salon_almaty" in table


async def test_the_eval_command_measures_the_configured_reranker(
    settings: Settings, fake_embeddings: str, db, capsys: pytest.CaptureFixture[str]
) -> None:
    tei = settings.model_copy(update={"embeddings_provider": "tei", "embeddings_model": "fake-m3",
                                      "embeddings_url": fake_embeddings})
    args = parse("eval", "--split", "held-out", "--base", "shop_delivery", "--json")
    assert await knowledge_cli.handle(args, tei) == 0
    plain = json.loads(capsys.readouterr().out)
    reranked = tei.model_copy(update={"rerank_provider": "tei", "rerank_url": fake_embeddings})
    assert await knowledge_cli.handle(args, reranked) == 0
    backwards = json.loads(capsys.readouterr().out)
    assert plain["reranker"] is None and backwards["reranker"] == "tei-rerank"
    # the figures are the re-ranker's: one that turns its 12 round puts the worst first
    assert backwards["all"]["recall@1"] < plain["all"]["recall@1"]
    assert backwards["all"]["recall@5"] < plain["all"]["recall@5"]


def test_the_cache_file_of_the_bundled_model_is_kept_with_the_sets() -> None:
    assert Path(EVAL_VECTORS).is_file()

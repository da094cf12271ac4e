"""The no-answer model (core.no_answer): its signals, its decision inside the search's confidence
check, and its calibration (gateway.no_answer_calibration)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from ai.embedding_cache import CachedEmbedder
from ai.local_e5 import E5_THRESHOLDS, LocalE5Embedder
from core.confidence import confident, ruled_out
from core.knowledge import KnowledgeBase
from core.knowledge_types import ScoreThresholds, SearchHit
from core.no_answer import FEATURES, NoAnswerModel, features, names_a_thing
from core.query_map import FitSettings
from core.query_text import normalize_query
from gateway import knowledge_cli
from gateway.knowledge_eval import Case
from gateway.no_answer_calibration import (
    Row,
    base_rows,
    collect,
    fit,
    folds,
    format_calibration,
    scores,
)
from gateway.query_map_fitting import fold_maps_of
from tests.knowledge.test_retrieval_eval import EVAL_VECTORS

LINES = [
    ("Услуги > УЗИ", "УЗИ брюшной полости — Цена: 9 500 ₸"),
    ("Услуги > Анализы", "Общий анализ крови — Цена: 2 100 ₸"),
    ("Услуги > Приём", "Приём терапевта — Цена: 8 000 ₸"),
]


def hits(scores: list[float], fused: list[float] | None = None) -> list[SearchHit]:
    fused = fused or [s + 0.1 for s in scores]
    return [SearchHit(id=str(i), score=s, fused=f, payload={
        "content": f"{LINES[i % 3][0]}\n{LINES[i % 3][1]}",
        "section": f"{LINES[i % 3][0]}\n{LINES[i % 3][1]}\nЗапись по телефону."})
        for i, (s, f) in enumerate(zip(scores, fused, strict=True))]


def signals(question: str, candidates: list[SearchHit]) -> dict[str, float]:
    return dict(zip(FEATURES, features(question, normalize_query(question).dense, candidates),
                    strict=True))


def test_a_question_about_something_no_candidate_names() -> None:
    about_mri = signals("Делаете ли вы МРТ коленного сустава?", hits([0.85] * 3))
    assert about_mri["existence"] == 1.0
    # коленного, сустава («делаете» names no thing, «МРТ» is too short to tell)
    assert about_mri["absent"] == 2.0 and about_mri["absent_share"] == pytest.approx(2 / 3)
    assert about_mri["existence_absent"] == 1.0 and about_mri["in_section"] == 0.0
    assert about_mri["margin"] == 0.06  # fewer than 20 candidates: the cap
    assert about_mri["cosine"] == 0.85 and about_mri["fused"] == pytest.approx(0.95)

    about_blood = signals("сколько стоит общий анализ крови?", hits([0.86, 0.84, 0.82]))
    assert about_blood["existence"] == 0.0 and about_blood["absent"] == 0.0
    assert about_blood["in_section"] == 0.0  # the best candidate is the УЗИ line
    assert signals("сколько стоит анализ крови?", hits([0.86, 0.84], [0.9, 0.95])[::-1])[
        "in_section"] == 1.0


def test_endings_and_typos_are_not_absent_words_and_english_is_told_apart() -> None:
    assert signals("приём тирапевта", hits([0.85] * 3))["absent"] == 0.0  # typo
    assert signals("брюшная полость узи", hits([0.85] * 3))["absent"] == 0.0  # endings
    english = signals("do you have an MRI machine?", hits([0.8] * 3))
    assert english["english"] == 1.0 and english["existence"] == 1.0
    assert signals("skolko stoit uzi?", hits([0.8] * 3))["english"] == 0.0  # Russian in Latin


def test_only_words_that_name_a_thing_count_as_absent() -> None:
    assert [w for w in ("делаете", "возле", "чтоб", "себе", "нарастить", "слышала")
            if names_a_thing(w)] == []
    assert all(names_a_thing(w) for w in ("венок", "орхидеи", "франшизу", "логопед", "шашқа",
                                           "gift", "кордиолог"))
    # Kazakh verb forms and postpositions name no thing either
    assert [w for w in ("қоятын", "жасайсыздар", "қаралғанда", "алдында") if names_a_thing(w)] == []


def test_kazakh_endings_and_latin_names_are_not_absent_words() -> None:
    branch = [SearchHit(id="1", score=0.82, fused=0.9, payload={
        "content": "Филиалы > ТРЦ Mega\nПарковка у филиала в Mega бесплатная, Kaspi QR на кассе"})]
    # «Мегадағы» is «Мега» with a Kazakh ending, and the base writes it «Mega»
    assert signals("Мегадағы филиалдың парковкасы бар ма?", branch)["absent"] == 0.0
    assert signals("каспи бар ма?", branch)["absent"] == 0.0
    assert signals("Мегадағы гардероб бар ма?", branch)["absent"] == 1.0


def test_the_margin_is_measured_against_the_best_twenty() -> None:
    flat = signals("узи", hits([0.85] * 25))
    standing_out = signals("узи", hits([0.90] + [0.85] * 24))
    assert flat["margin"] == pytest.approx(0.0)
    assert standing_out["margin"] == pytest.approx(0.05 - 0.05 / 20)


def test_the_model_declines_at_its_threshold() -> None:
    model = NoAnswerModel(weights=(0.0,) * 9 + (2.0,), bias=-1.0, threshold=0.5)
    assert model.probability([0.0] * 10) == pytest.approx(0.2689, abs=1e-4)
    assert not model.declines([0.0] * 10)
    assert model.declines([0.0] * 9 + [1.0])


def thresholds(model: NoAnswerModel | None) -> ScoreThresholds:
    return ScoreThresholds(search=0.7, answer=0.76, duplicate=0.95, margin=0.006, anchored=0.83,
                           no_answer=model)


def test_the_search_asks_the_model_past_the_fixed_rules() -> None:
    always = NoAnswerModel(weights=(0.0,) * 10, bias=5.0, threshold=0.5)
    never = NoAnswerModel(weights=(0.0,) * 10, bias=-5.0, threshold=0.5)
    question = "сколько стоит узи?"
    query = normalize_query(question)
    flat = hits([0.85] * 25)  # the margin rule alone would decline it
    assert confident(flat, query, question, thresholds(never))
    assert not confident(flat, query, question, thresholds(always))
    assert not confident(flat, query, question, thresholds(None))
    # under the answer threshold, nothing is found whatever the model says
    assert not confident(hits([0.75] * 25), query, question, thresholds(never))
    # unfused (dense) hits: the margin rule decides
    dense = [SearchHit(id=h.id, score=h.score, payload=h.payload) for h in flat]
    assert not confident(dense, query, question, thresholds(never))


def test_chit_chat_is_ruled_out_but_price_and_existence_questions_go_to_the_model() -> None:
    with_model = thresholds(NoAnswerModel(weights=(0.0,) * 10, bias=-5.0, threshold=0.5))
    best = hits([0.8])[0]
    for question, declined in (("расскажи анекдот", True), ("купить iphone 15", True),
                               ("how much is an ultrasound scan?", False),
                               ("do you declaw cats?", False), ("мрт делаете?", False),
                               ("узи брюшной полости", False)):
        assert ruled_out(best, normalize_query(question), question, with_model) is declined
    assert ruled_out(best, normalize_query("how much is a scan?"), "how much is a scan?",
                     thresholds(None))


def test_the_bundled_model_has_a_no_answer_model() -> None:
    model = E5_THRESHOLDS.no_answer
    assert model is not None and len(model.weights) == len(FEATURES)
    assert 0.5 <= model.threshold < 1.0


def rows() -> list[Row]:
    """Questions the base cannot answer ask whether something exists, with a low cosine."""
    out = []
    for i in range(120):
        base = ("salon_almaty", "clinic_astana", "shop_delivery")[i % 3]
        unanswerable = i % 4 == 0
        cosine = 0.80 + (i % 7) * 0.005 + (0.0 if unanswerable else 0.03)
        case = Case(f"{base}-q{i:03d}", base, "?", () if unanswerable else ("fact",), "price",
                    "plain", "dev")
        out.append(Row(case, (cosine, 0.02, cosine + 0.1, float(unanswerable), 0.0, 0.0, 1.0,
                              0.0, 3.0, 0.0), ruled_out=False))
    return out


def test_the_calibration_separates_what_the_features_separate() -> None:
    model = fit(rows(), precision=0.9)
    precision, recall, declines = scores(model, rows())
    assert precision is not None and precision >= 0.9 and recall == 1.0 and declines == 30
    assert [name for name, _ in folds(rows(), 0.9)] == [
        "base salon_almaty", "base clinic_astana", "base shop_delivery", "odd ids", "even ids"]
    report = format_calibration(rows(), 0.9)
    assert report.splitlines()[-1].startswith("NoAnswerModel(weights=(")


async def test_the_calibration_searches_each_base_under_a_map_that_did_not_see_it() -> None:
    """The shipped map lifts the cosines of the questions it was fitted on: features taken
    under it would teach the model that answerable questions score higher than new ones do."""
    embedder = CachedEmbedder(LocalE5Embedder(), EVAL_VECTORS)
    bases = ["fitness_almaty", "edu_astana"]
    maps = await fold_maps_of(embedder, bases, FitSettings(steps=3))
    assert set(maps) == set(bases)
    assert not np.allclose(maps["fitness_almaty"].matrix, maps["edu_astana"].matrix)
    rows = await collect(embedder, ["edu_astana"], FitSettings(steps=3))
    served = await base_rows(embedder, "edu_astana")  # under the shipped map
    assert [row.case.id for row in rows] == [row.case.id for row in served]
    # alone, a base has no fold map: its questions are searched without one, below the map's
    lifted = sum(s.features[0] - r.features[0] for r, s in zip(rows, served, strict=True))
    assert lifted / len(rows) > 0.01


async def test_the_calibration_runs_on_the_dev_split_only() -> None:
    parser = argparse.ArgumentParser()
    knowledge_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["knowledge", "eval", "--split", "held-out",
                              "--calibrate-no-answer"])
    with pytest.raises(ValueError, match="dev split only"):
        await knowledge_cli._eval(args, KnowledgeBase(object(), object(), thresholds=thresholds(None)))  # type: ignore[arg-type]

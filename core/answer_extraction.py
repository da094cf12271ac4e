"""The no-LLM answer: the line that states the fact (a table row, a list item, a sentence) with
the title it sits under, not a whole chunk, taken from the first passages the search found; for
a question asking two things, a line for each; when the search cannot tell its best line from
the next, both. Also the shape of learned entries."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence

from core.answer_types import asked_kinds, kind_match, numbers_in, states_number
from core.chunking import heading_title, split_heading
from core.fusion import CLOSE_CALL, foreign_line
from core.intents import only_courtesy
from core.knowledge_types import SOURCE_LEARNED, Passage
from core.language import detect_language
from core.lexical import char_ngrams, held_ngrams
from core.query_text import content_words, normalize_for_embedding

LEARNED_QUESTION = "Вопрос: "
LEARNED_ANSWER = "Ответ: "
MAX_LINES = 3  # a line for each part of a question (three at most), then the search's close call
# Where the line answering the question, or each of its parts, may come from (a later part's
# came from the first two until round 26; with three, dev out of fold replies 0.816 -> 0.820, no
# base losing; knowledge/README.md).
LINE_PASSAGES = 3
# Line choice (`_best_line`): the share of the question's n-grams in the line (for a part of a
# question, + WHOLE_QUESTION_WEIGHT x the whole question's share), + KIND_WEIGHT per kind of
# fact asked for that it states, + NUMBER_WEIGHT when it states a number the customer gave or a
# range holding it ("31 декабря", "минут на 15" → "от 10 до 20 минут"), - SEARCH_WEIGHT x how
# far below its best line the search put it (fused scores; a line it did not match: its
# passage's best less UNMATCHED_GAP). Calibrated on rounds 1-7 of the labelled sets
# (knowledge/README.md: round 10, and "The customer's numbers").
KIND_WEIGHT = 0.15
NUMBER_WEIGHT = 0.2
WHOLE_QUESTION_WEIGHT = 0.3
SEARCH_WEIGHT = 4.0
UNMATCHED_GAP = 0.08
# A third part's line must hold more than this share of the part's n-grams, or state a kind of
# fact it asks for (dev: one reply of 2,302 fewer at 0.1, two at 0.2; knowledge/README.md, round
# 23: the check keeps a line that answers nothing out).
PART_EVIDENCE = 0.1
# A question whose words are all in the title of the best passage gets its first lines.
OVERVIEW_COVERAGE = 0.9
OVERVIEW_LINES = 3
# "… и …", "… а …", "… and …", "…? …", "… және …": where a question asks a second thing.
_PARTS = re.compile(r"\?\s+|\s+(?:и|а|или|also|and|or|және|мен|плюс|ещё|еще)\s+|"
                    r",\s+(?:а|и)?\s*", re.IGNORECASE)
MIN_PART_CHARS = 5
# What makes a part of a question ask something of its own (not only set the scene: "мама на
# пенсии, …", "Здравствуйте, …"): a question mark, a question word or particle, or a kind of
# fact asked for (`asked_kinds`).
_ASKS = re.compile(
    r"\?|\b(?:сколько|скольки|скока|скок|скоко|сколко|почем|почём|когда|где|куда|как[а-яё]*|"
    r"можно|нужно|надо|ли|қанша|қашан|қайда|қай|нешеге|ма|ме|ба|бе|па|пе|how|what|when|"
    r"where|which|do you|can i|is there|are you)\b", re.IGNORECASE)


def learned_content(question: str, answer: str) -> str:
    return f"{LEARNED_QUESTION}{question.strip()}\n{LEARNED_ANSWER}{answer.strip()}"


def learned_answer(content: str) -> str:
    return content.split(LEARNED_ANSWER, 1)[1].strip() if LEARNED_ANSWER in content else content


def question_parts(question: str) -> list[str]:
    """The parts of a question that asks more than one thing (one part otherwise). Russian in
    Latin letters is read in Cyrillic first, so its "i" and "a" join parts as "и" and "а" do."""
    question = normalize_for_embedding(question)
    parts = [p.strip() for p in _PARTS.split(question)
             if p and len(p.strip()) >= MIN_PART_CHARS and not only_courtesy(p)]
    return parts if len(parts) > 1 else [question]


def asking_parts(question: str) -> list[str]:
    """The parts of `question_parts` that ask something of their own; a question asking two
    things has two or more."""
    return [part for part in question_parts(question)
            if _ASKS.search(part) or asked_kinds(part)]


def compose_answer(passages: Sequence[Passage], question: str) -> str:
    """The line of the best passages that answers the question, with its passage's title; for
    a question in parts, also the line of the best passages that answers each other part (the
    first three parts; another line each, a third part's only when it speaks to it), each
    part's line also from the passage searched for that part (`Passage.part`); and, when there
    is room, the search's next line when it is a close call."""
    best = passages[0]
    if best.source == SOURCE_LEARNED:
        return learned_answer(best.content)
    overview = _overview(best, question)
    if overview:
        return overview
    parts = question_parts(question)
    whole = question if len(parts) > 1 else None
    searched = [p for p in passages if p.part is None]
    first = _best_line([*searched[:LINE_PASSAGES], *(_own(passages, parts[0]) if whole else [])],
                       parts[0] if whole else question, whole=whole)
    chosen = [first]
    for n, part in enumerate(parts[1:MAX_LINES], 1):
        found = _best_line([*searched[:LINE_PASSAGES], *_own(passages, part)], part,
                           exclude={line for _, line in chosen}, whole=whole)
        if n == 1 or _speaks_to(part, found[1]):
            chosen.append(found)
    close = _close_call(searched, first[1], detect_language(question))
    if close and close[1] not in {line for _, line in chosen}:
        chosen.append(close)  # when there is room: the parts may be one question cut at a comma
    chosen = chosen[:MAX_LINES]  # each under its passage's title, once for lines in a row
    lines = [_titled(passage, line) if i == 0 or passage is not chosen[i - 1][0] else line
             for i, (passage, line) in enumerate(chosen)]
    return "\n".join(lines)


def _speaks_to(part: str, line: str) -> bool:
    """Whether the line holds some of the part's own words or states a kind of fact it asks for
    (a third part's best line may be only its passages' next line: no answer to it)."""
    return _share(_grams(part), line) > PART_EVIDENCE or kind_match(asked_kinds(part), line) > 0


def _own(passages: Sequence[Passage], part: str) -> list[Passage]:
    """The passages searched for this part of the question on its own."""
    return [p for p in passages if p.part == part]


def _overview(passage: Passage, question: str) -> str | None:
    """A question that names only what the section is about ("сколько стоит маникюр?") has no
    one line for an answer: it gets the section's first lines under its title."""
    words = _grams(question)
    heading, body = split_heading(passage.content)
    title = heading_title(heading)
    if not words or not title or \
            held_ngrams(words, title) / len(words) < OVERVIEW_COVERAGE:
        return None
    return "\n".join([title, *body.split("\n")[:OVERVIEW_LINES]])


def _best_line(passages: Sequence[Passage], question: str, exclude: Collection[str] = (),
               whole: str | None = None) -> tuple[Passage, str]:
    """The line that covers the question's words most (for a part of a question, `whole`'s
    too: a part often leaves out what it is about, "… and what's the minimum age?") and states
    the kind of fact it asks for, weighed against how far below its best line the search put it
    (`_search_standing`): the search's best line wins a tie, a line of a later passage that the
    search scored close to its best and that answers beats one of the first that does not."""
    words = _grams(question)
    whole_words = _grams(whole) if whole else set()
    asked = asked_kinds(question)
    numbers = numbers_in(whole or question)
    scored = []
    for passage, line, standing in _search_standing(passages):
        if not line.strip() or line in exclude:
            continue
        score = _share(words, line) + WHOLE_QUESTION_WEIGHT * _share(whole_words, line) \
            + KIND_WEIGHT * kind_match(asked, line) + NUMBER_WEIGHT * states_number(numbers, line) \
            + SEARCH_WEIGHT * standing
        scored.append((score, (passage, line)))
    if not scored:
        return passages[0], passages[0].content
    return max(scored, key=lambda item: item[0])[1]


def _search_standing(passages: Sequence[Passage]) -> Iterator[tuple[Passage, str, float]]:
    """Each line of the passages with how far below the search's best line it stands (≤ 0): a
    matched line by its fused score (above the first passage's best after a re-ranker put
    another first: a tie), another line of its section at its passage's best less
    UNMATCHED_GAP. Without fused scores (a dense or lexical search), each passage's best line
    stands a step of UNMATCHED_GAP below the one before. A passage searched for a part of the
    question has scores of another search: its best line stands UNMATCHED_GAP below the best
    (dev: replies to questions asking two things 0.518 -> 0.570 against 0.550 at par, the
    other kinds unchanged; knowledge/README.md, round 17)."""
    first = passages[0].matched_scores[0] if passages[0].matched_scores else None
    for rank, passage in enumerate(passages):
        best = first if passage.part is None or not passage.matched_scores \
            else passage.matched_scores[0] + UNMATCHED_GAP
        if best is None:
            matched = dict.fromkeys(passage.matched[:1], -rank * UNMATCHED_GAP)
        else:
            matched = {line: min(score - best, 0.0) for line, score
                       in zip(passage.matched, passage.matched_scores, strict=False)
                       if score is not None}
            if not matched:
                continue
        rest = max(matched.values(), default=-rank * UNMATCHED_GAP) - UNMATCHED_GAP
        body = split_heading(passage.content)[1]
        for line in dict.fromkeys([*passage.matched[:1], *body.split("\n")]):
            yield passage, line, matched.get(line, rest)


def _grams(text: str) -> set[str]:
    return set(char_ngrams(content_words(normalize_for_embedding(text))))


def _share(words: set[str], line: str) -> float:
    """The share of these n-grams that the line holds."""
    return held_ngrams(words, line) / len(words) if words else 0.0


def _close_call(passages: Sequence[Passage], taken: str,
                question_language: str | None = None) -> tuple[Passage, str] | None:
    """The search's next line after its best (other than `taken`, the line already chosen) when
    their fused scores are within CLOSE_CALL: the search cannot tell them apart, and one wrong
    line is worse than two labelled ones (dev: replies with the fact 0.673 -> 0.712, every base
    gaining 2-5 points, the average reply 255 -> 279 characters; for a two-part question too,
    as a third line: 0.720 -> 0.734; knowledge/README.md). After a re-ranker that put another
    line first, the fusion's best line is that next line: the reply shows both opinions. A
    Kazakh line is no second opinion for a question in Russian or English (`foreign_line`: it
    is most often the Kazakh copy of the line taken)."""
    ranked = sorted(((score, passage, line) for passage in passages
                     for line, score in zip(passage.matched, passage.matched_scores, strict=False)
                     if score is not None and not foreign_line(line, question_language)),
                    key=lambda item: item[0], reverse=True)
    if not ranked:
        return None
    best = ranked[0][0]
    score, passage, line = next(((s, p, x) for s, p, x in ranked if x != taken), ranked[0])
    return (passage, line) if line != taken and best - score < CLOSE_CALL else None


def _titled(passage: Passage, line: str) -> str:
    """"Title: line" (the last heading of the passage), unless the line is the whole text."""
    title = heading_title(split_heading(passage.content)[0])
    return f"{title}\n{line}" if title and title not in line else line

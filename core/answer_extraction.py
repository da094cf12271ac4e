"""The no-LLM answer: the line that states the fact (a table row, a list item, a sentence) with
the title it sits under, not a whole chunk; for a question asking two things, a line for each;
when the search cannot tell its best line from the next, both. Also the shape of learned
entries."""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.answer_types import asked_kinds, kind_match
from core.chunking import heading_title, split_heading
from core.fusion import CLOSE_CALL
from core.knowledge_types import SOURCE_LEARNED, Passage
from core.lexical import char_ngrams
from core.query_text import content_words, normalize_for_embedding

LEARNED_QUESTION = "Вопрос: "
LEARNED_ANSWER = "Ответ: "
MAX_LINES = 3  # a two-part question's two lines, and the search's close call
SECOND_PART_PASSAGES = 2  # where the line answering the second part of a question may come from
# Line choice: the share of the question's n-grams in the line, + KIND_WEIGHT per kind of fact
# asked for that it states, + MATCH_BONUS for the search's best line (calibrated on dev).
KIND_WEIGHT = 0.15
MATCH_BONUS = 0.15
# A question whose words are all in the title of the best passage gets its first lines.
OVERVIEW_COVERAGE = 0.9
OVERVIEW_LINES = 3
# "… и …", "… а …", "… and …", "…? …", "… және …": where a question asks a second thing.
_PARTS = re.compile(r"\?\s+|\s+(?:и|а|или|also|and|or|және|мен|плюс|ещё|еще)\s+|"
                    r",\s+(?:а|и)?\s*", re.IGNORECASE)
MIN_PART_CHARS = 5


def learned_content(question: str, answer: str) -> str:
    return f"{LEARNED_QUESTION}{question.strip()}\n{LEARNED_ANSWER}{answer.strip()}"


def learned_answer(content: str) -> str:
    return content.split(LEARNED_ANSWER, 1)[1].strip() if LEARNED_ANSWER in content else content


def question_parts(question: str) -> list[str]:
    """The parts of a question that asks more than one thing (one part otherwise). Russian in
    Latin letters is read in Cyrillic first, so its "i" and "a" join parts as "и" and "а" do."""
    question = normalize_for_embedding(question)
    parts = [p.strip() for p in _PARTS.split(question) if p and len(p.strip()) >= MIN_PART_CHARS]
    return parts if len(parts) > 1 else [question]


def compose_answer(passages: Sequence[Passage], question: str) -> str:
    """The line of the best passage that answers the question, with the passage's title; for
    a two-part question, also the line of the best passages that answers the other part (when
    it is another line); and the search's next line when it is a close call."""
    best = passages[0]
    if best.source == SOURCE_LEARNED:
        return learned_answer(best.content)
    overview = _overview(best, question)
    if overview:
        return overview
    parts = question_parts(question)
    first, _ = _best_line(passages[:1], parts[0] if len(parts) > 1 else question)
    chosen = [first]
    close = _close_call(passages, first[1])
    if len(parts) > 1:
        second, _ = _best_line(passages[:SECOND_PART_PASSAGES], parts[1], exclude=first[1])
        chosen.append(second)
        if close and close[1] != second[1]:
            chosen.append(close)  # the parts may be one question cut at a comma
    elif close:
        chosen.append(close)
    lines = [_titled(passage, line) if passage is not chosen[0][0] or i == 0 else line
             for i, (passage, line) in enumerate(chosen[:MAX_LINES])]
    return "\n".join(lines)


def _overview(passage: Passage, question: str) -> str | None:
    """A question that names only what the section is about ("сколько стоит маникюр?") has no
    one line for an answer: it gets the section's first lines under its title."""
    words = set(char_ngrams(content_words(normalize_for_embedding(question))))
    heading, body = split_heading(passage.content)
    title = heading_title(heading)
    if not words or not title or \
            len(words & set(char_ngrams(title))) / len(words) < OVERVIEW_COVERAGE:
        return None
    return "\n".join([title, *body.split("\n")[:OVERVIEW_LINES]])


def _best_line(passages: Sequence[Passage], question: str, exclude: str | None = None
               ) -> tuple[tuple[Passage, str], float]:
    """The line that covers the question's words most and states the kind of fact it asks
    for, the search's own best line winning ties (MATCH_BONUS)."""
    words = set(char_ngrams(content_words(normalize_for_embedding(question))))
    asked = asked_kinds(question)
    scored = []
    for passage in passages:
        body = split_heading(passage.content)[1]
        lines = dict.fromkeys([*passage.matched[:1], *body.split("\n")])
        for line in lines:
            if not line.strip() or line == exclude:
                continue
            grams = set(char_ngrams(line))
            score = (len(words & grams) / len(words) if words else 0.0) \
                + KIND_WEIGHT * kind_match(asked, line) \
                + (MATCH_BONUS if passage.matched and line == passage.matched[0] else 0.0)
            scored.append((score, (passage, line)))
    if not scored:
        return (passages[0], passages[0].content), 0.0
    score, pick = max(scored, key=lambda item: item[0])
    return pick, score


def _close_call(passages: Sequence[Passage], taken: str) -> tuple[Passage, str] | None:
    """The search's next line after its best (other than `taken`, the line already chosen) when
    their fused scores are within CLOSE_CALL: the search cannot tell them apart, and one wrong
    line is worse than two labelled ones (dev: replies with the fact 0.673 -> 0.712, every base
    gaining 2-5 points, the average reply 255 -> 279 characters; for a two-part question too,
    as a third line: 0.720 -> 0.734; knowledge/README.md). After a re-ranker that put another
    line first, the fusion's best line is that next line: the reply shows both opinions."""
    ranked = sorted(((score, passage, line) for passage in passages
                     for line, score in zip(passage.matched, passage.matched_scores, strict=False)
                     if score is not None), key=lambda item: item[0], reverse=True)
    if not ranked:
        return None
    best = ranked[0][0]
    score, passage, line = next(((s, p, x) for s, p, x in ranked if x != taken), ranked[0])
    return (passage, line) if line != taken and best - score < CLOSE_CALL else None


def _titled(passage: Passage, line: str) -> str:
    """"Title: line" (the last heading of the passage), unless the line is the whole text."""
    title = heading_title(split_heading(passage.content)[0])
    return f"{title}\n{line}" if title and title not in line else line

"""The customer-facing part of a passage (no-LLM mode), and the shape of learned entries."""

from __future__ import annotations

from core.chunking import HEADING_SEPARATOR
from core.knowledge_types import SOURCE_LEARNED, Passage

LEARNED_QUESTION = "Вопрос: "
LEARNED_ANSWER = "Ответ: "
MAX_ANSWER_CHARS = 700
# Dense scores of small models do not separate unrelated questions well (e5: 0.78-0.84 for
# "расскажи анекдот"), so the no-LLM answer also needs this much lexical overlap.
MIN_ANSWER_COVERAGE = 0.3


def learned_content(question: str, answer: str) -> str:
    return f"{LEARNED_QUESTION}{question.strip()}\n{LEARNED_ANSWER}{answer.strip()}"


def extract_answer(passage: Passage) -> str:
    """The customer-facing part of a passage: a learned entry's answer, or a chunk whose
    heading path is shortened to its last title, cut at a line boundary to MAX_ANSWER_CHARS."""
    content = passage.content.strip()
    if passage.source == SOURCE_LEARNED and LEARNED_ANSWER in content:
        return content.split(LEARNED_ANSWER, 1)[1].strip()
    first, _, rest = content.partition("\n")
    if rest.strip() and _looks_like_heading_path(first):
        title = first.split(HEADING_SEPARATOR)[-1].strip()
        content = f"{title}\n{rest.strip()}"
    if len(content) <= MAX_ANSWER_CHARS:
        return content
    cut = content[:MAX_ANSWER_CHARS]
    return (cut.rsplit("\n", 1)[0] if "\n" in cut else cut.rsplit(" ", 1)[0]).rstrip() + " …"


def _looks_like_heading_path(line: str) -> bool:
    """chunk_document's first line: a "A > B" path, or one short title (no "key: value",
    no sentence punctuation)."""
    if HEADING_SEPARATOR in line:
        return True
    return len(line) <= 80 and ":" not in line and not line.endswith((".", "!", "?"))

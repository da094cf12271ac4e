"""The rule layers' matcher: what a word's remembered candidates and typo matches must not
change (a phrase still depends on the words after it) and how much it remembers."""

from __future__ import annotations

import pytest

from core import matching
from core.matching import Patterns, compile_patterns, normalize


def _found(patterns: Patterns, text: str, *, fuzzy: bool = True) -> list[tuple[str, int, int]]:
    return [(hit.pattern, hit.start, hit.end)
            for hit in patterns.hits(normalize(text).split(), fuzzy=fuzzy)]


def test_a_phrase_still_needs_its_next_words_after_its_first_word_was_seen() -> None:
    patterns = compile_patterns(phrases=("живой человек",), stems=("оператор",))
    assert _found(patterns, "дайте живой человек") == [("живой человек", 1, 3)]
    assert _found(patterns, "живой ответ, не бот") == []
    assert _found(patterns, "а живой человек есть?") == [("живой человек", 1, 3)]


def test_stems_prefixes_and_typos_answer_the_same_when_asked_again() -> None:
    patterns = compile_patterns(stems=("менеджер", "оператор"))
    messages = ["позовите менеджера", "позовите менежера", "оператора пожалуйста",
                "менеджмент курсы", "позовите менеджера"]
    first = [_found(patterns, text) for text in messages]
    again = [_found(patterns, text) for text in messages]
    assert first == again
    assert first[0] == [("менеджер", 1, 2)]
    assert first[1] == [("менеджер", 1, 2)]  # one letter missing: a typo of the stem
    assert first[3] == []  # "менеджмент" is another word
    assert _found(patterns, "позовите менежера", fuzzy=False) == []


def test_what_a_pattern_set_remembers_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matching, "WORDS_REMEMBERED", 3)
    patterns = Patterns(stems=(("менеджер",),))
    words = [f"слово{n}" for n in range(10)] + ["менеджеру", "менежеру"]
    for word in words:
        patterns.hits([word])
    assert len(patterns._word_candidates) <= 3 and len(patterns._word_typos) <= 3
    assert [h.pattern for h in patterns.hits(["менеджеру", "менежеру"])] == ["менеджер"] * 2

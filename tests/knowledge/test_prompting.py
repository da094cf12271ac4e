from core.knowledge_types import Passage
from core.prompting import (
    CONTEXT_CHARS,
    HISTORY_CHARS,
    HISTORY_LINE_CHARS,
    HISTORY_TURNS,
    NO_PASSAGES,
    QUESTION_CHARS,
    build_messages,
    context_block,
)


def test_messages_carry_prompt_passages_recent_history_and_question() -> None:
    passages = [Passage("Маникюр — 4 000 ₸", "prices", "document", 0.9)]
    history = [{"role": "user" if i % 2 else "assistant", "content": f"turn {i}"}
               for i in range(15)]
    history.append({"role": "manager", "content": "Менеджер: уточню"})
    history.append({"role": "system", "content": "ignored"})
    messages = build_messages("Ты администратор салона «Лотос».", passages, history, "Цена?")

    system = messages[0]
    assert system["role"] == "system"
    assert system["content"].startswith("Ты администратор салона «Лотос».")
    assert "[1] (prices)\nМаникюр — 4 000 ₸" in system["content"]
    assert "менеджер" in system["content"] and "языке клиента" in system["content"]
    turns = messages[1:-1]
    assert len(turns) == HISTORY_TURNS - 1  # the system-role entry in the window is dropped
    assert turns[-1] == {"role": "assistant", "content": "Менеджер: уточню"}
    assert messages[-1] == {"role": "user", "content": "Цена?"}


def test_a_passage_s_heading_goes_in_without_its_document_s_title() -> None:
    """The source label names the document; its title on every block would take a fact's room
    (a one-level heading is the section's own title and stays)."""
    deep = Passage("Часы работы «Шафран»: когда открыты > Праздничные дни\n31 декабря: 9:00–17:00",
                   "hours", "document", 0.9)
    flat = Passage("Парковка\nВо дворе 6 бесплатных мест", "faq", "document", 0.8)
    assert context_block([deep, flat]) == ("[1] (hours)\nПраздничные дни\n31 декабря: 9:00–17:00"
                                           "\n\n[2] (faq)\nПарковка\nВо дворе 6 бесплатных мест")


def test_missing_passages_are_stated() -> None:
    messages = build_messages("", [], [], "Есть солярий?")
    assert NO_PASSAGES in messages[0]["content"]
    assert len(messages) == 2


def test_without_a_desk_the_model_offers_a_call_not_a_manager() -> None:
    with_desk = build_messages("", [], [], "Есть солярий?")[0]["content"]
    without = build_messages("", [], [], "Есть солярий?", desk=False)[0]["content"]
    assert "«менеджер»" in with_desk and "позвонить" not in with_desk
    assert "«менеджер»" not in without and "позвонить в компанию" in without


def test_a_customer_cannot_make_the_prompt_long() -> None:
    """Pasted pages in the history and the question: each history line is cut, the history
    keeps its newest lines within its budget, the question is capped."""
    history = [{"role": "user", "content": f"{n} " + "ы" * 40_000} for n in range(HISTORY_TURNS)]
    history[-1] = {"role": "assistant", "content": "Коротко."}
    passages = [Passage("строка\n" * 5000, "prices", "document", 0.9)]
    messages = build_messages("Промпт.", passages, history, "вопрос " * 20_000)
    turns = messages[1:-1]
    assert all(len(m["content"]) <= HISTORY_LINE_CHARS for m in turns)
    assert sum(len(m["content"]) for m in turns) <= HISTORY_CHARS
    assert turns[-1]["content"] == "Коротко." and turns[0]["content"].startswith("6 ")
    assert len(messages[-1]["content"]) <= QUESTION_CHARS
    total = sum(len(m["content"]) for m in messages)
    assert total <= CONTEXT_CHARS + HISTORY_CHARS + QUESTION_CHARS + 2000  # rules and prompt

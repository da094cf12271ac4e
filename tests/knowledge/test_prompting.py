from core.knowledge_types import Passage
from core.prompting import HISTORY_TURNS, NO_PASSAGES, build_messages


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


def test_missing_passages_are_stated() -> None:
    messages = build_messages("", [], [], "Есть солярий?")
    assert NO_PASSAGES in messages[0]["content"]
    assert len(messages) == 2

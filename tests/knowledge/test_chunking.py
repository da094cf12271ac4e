from core.answer_extraction import extract_answer, learned_content
from core.chunking import MAX_CHUNK_CHARS, chunk_document
from core.knowledge import point_id
from core.knowledge_types import Passage
from core.lexical import char_ngrams

MARKDOWN = """# Салон

Вступление.

## Цены

### Маникюр
- Классический — 4 000 ₸
- Гель-лак — 9 000 ₸

## Адрес
Проспект Абая, 52.

Второй абзац адреса.
"""


def test_chunks_keep_the_heading_path_and_never_mix_sections() -> None:
    texts = [c.text for c in chunk_document(MARKDOWN)]
    assert texts == [
        "Салон\nВступление.",
        "Салон > Цены > Маникюр\n- Классический — 4 000 ₸\n- Гель-лак — 9 000 ₸",
        "Салон > Адрес\nПроспект Абая, 52.\n\nВторой абзац адреса.",
    ]


def test_plain_text_is_split_by_paragraphs_within_the_size_limit() -> None:
    paragraph = "Очень длинное предложение про услуги салона и цены. " * 20
    text = "\n\n".join([paragraph] * 4)
    chunks = chunk_document(text)
    assert len(chunks) > 4
    assert all(len(c.text) <= MAX_CHUNK_CHARS for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert "".join(c.text for c in chunks).replace(" ", "").replace("\n", "") == \
        text.replace(" ", "").replace("\n", "")


def test_long_price_list_is_split_at_lines() -> None:
    lines = "\n".join(f"- Услуга номер {i} с длинным описанием — {i} 000 ₸" for i in range(60))
    chunks = chunk_document(f"## Прайс\n{lines}")
    assert all(c.text.startswith("Прайс\n- Услуга") for c in chunks)
    assert all(len(c.text) <= MAX_CHUNK_CHARS for c in chunks)


def test_empty_text_has_no_chunks() -> None:
    assert chunk_document("") == []
    assert chunk_document("# Только заголовок\n\n") == []


def test_point_ids_are_stable_and_depend_on_every_part() -> None:
    base = point_id("a", "doc", "document", 0, "text", None)
    assert base == point_id("a", "doc", "document", 0, "text", None)
    variants = {
        point_id("b", "doc", "document", 0, "text", None),
        point_id("a", "doc2", "document", 0, "text", None),
        point_id("a", "doc", "learned", 0, "text", None),
        point_id("a", "doc", "document", 1, "text", None),
        point_id("a", "doc", "document", 0, "text!", None),
        point_id("a", "doc", "document", 0, "text", "branch"),
    }
    assert base not in variants and len(variants) == 6


def test_extract_answer_shortens_the_heading_path_and_unwraps_learned() -> None:
    chunk = Passage("Салон > Часы работы\nС 9:00 до 21:00.", "01", "document", 0.9)
    assert extract_answer(chunk) == "Часы работы\nС 9:00 до 21:00."
    plain = Passage("Адрес: Абая, 52.", "01", "document", 0.9)
    assert extract_answer(plain) == "Адрес: Абая, 52."
    learned = Passage(learned_content("Есть парковка?", "Да, во дворе."), "learned", "learned", 0.9)
    assert extract_answer(learned) == "Да, во дворе."


def test_char_ngrams_fold_case_yo_and_digit_groups() -> None:
    assert char_ngrams("Ёж") == [" еж", "еж "]
    assert char_ngrams("5 000 ₸") == char_ngrams("5000")

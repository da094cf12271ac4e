from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.answer_extraction import asking_parts, compose_answer, learned_content, question_parts
from core.answer_types import numbers_in, states_number
from core.chunking import MAX_UNIT_CHARS, chunk_document
from core.knowledge import point_id
from core.knowledge_types import Passage, SearchHit
from core.lexical import char_ngrams, distinct_ngrams, held_ngrams
from core.passages import LATER_PASSAGE_CHARS, PASSAGE_CHARS, expand, passages_from_hits

MARKDOWN = """# Салон

Вступление.

## Цены

### Маникюр
| Услуга | Мастер | Топ-мастер |
|---|---|---|
| Классический | 4 000 ₸ | 5 000 ₸ |
| Гель-лак | 9 000 ₸ | — |

Важно:
- снятие входит в цену;
- дизайн отдельно.

## Адрес
Проспект Абая, 52.

Второй абзац адреса.
"""


def test_chunks_are_fact_sized_with_their_heading_path_and_section() -> None:
    chunks = chunk_document(MARKDOWN)
    assert [c.text for c in chunks] == [
        "Салон\nВступление.",
        "Салон > Цены > Маникюр\nКлассический — Мастер: 4 000 ₸; Топ-мастер: 5 000 ₸",
        "Салон > Цены > Маникюр\nГель-лак — Мастер: 9 000 ₸; Топ-мастер: —",
        "Салон > Цены > Маникюр\nВажно: снятие входит в цену;",
        "Салон > Цены > Маникюр\nВажно: дизайн отдельно.",
        "Салон > Адрес\nПроспект Абая, 52.",
        "Салон > Адрес\nВторой абзац адреса.",
    ]
    assert [c.index for c in chunks] == list(range(7))
    # every chunk of a section carries the whole section (what a search hands over)
    assert chunks[1].section == chunks[4].section
    assert chunks[1].section.startswith("Салон > Цены > Маникюр\n| Услуга |")
    assert chunks[5].section == "Салон > Адрес\nПроспект Абая, 52.\n\nВторой абзац адреса."
    # the model reads the path without the document's title
    assert chunks[1].embedding_text.startswith("Цены > Маникюр\nКлассический")


def test_a_title_with_a_colon_is_a_heading_and_a_bold_label_introduces_its_list() -> None:
    chunks = chunk_document("# Контакты: телефоны и адреса\n\nПишите нам.\n\n**Алматы**\n"
                            "- Телефон: +7 727 000 00 00\n- Instagram: @shop.almaty\n")
    assert [c.text for c in chunks] == [
        "Контакты: телефоны и адреса\nПишите нам.",
        "Контакты: телефоны и адреса\n**Алматы** Телефон: +7 727 000 00 00",
        "Контакты: телефоны и адреса\n**Алматы** Instagram: @shop.almaty",
    ]
    assert chunks[1].unit == "**Алматы** Телефон: +7 727 000 00 00"
    # a line stating a figure after a colon is not a title
    assert chunk_document("Адрес: ул. Абая, 52\nВход со двора.")[0].unit.startswith("Адрес:")


def test_long_paragraphs_are_cut_at_sentences() -> None:
    paragraph = "Очень длинное предложение про услуги салона и цены. " * 20
    chunks = chunk_document(f"## Услуги\n{paragraph}")
    assert len(chunks) > 2
    assert all(len(c.unit) <= MAX_UNIT_CHARS for c in chunks)
    assert all(c.unit.endswith(".") for c in chunks)
    assert " ".join(c.unit for c in chunks) == paragraph.strip()


def test_empty_text_has_no_chunks() -> None:
    assert chunk_document("") == []
    assert chunk_document("# Только заголовок\n\n") == []


def test_a_section_too_long_for_a_passage_keeps_the_matched_rows_and_their_neighbours() -> None:
    rows = "\n".join(f"| Услуга {i} | {i} 000 ₸ |" for i in range(40))
    section = f"Прайс\n| Услуга | Цена |\n|---|---|\n{rows}"
    excerpt = expand(section, ["Услуга 30 — Цена: 30 000 ₸"], budget=200)
    lines = excerpt.split("\n")
    assert lines[0] == "Прайс" and len(excerpt) <= 200
    assert "Услуга 30 — Цена: 30 000 ₸" in lines
    assert "Услуга 29 — Цена: 29 000 ₸" in lines and "Услуга 31 — Цена: 31 000 ₸" in lines
    assert "Услуга 0 — Цена: 0 000 ₸" not in lines


def test_the_first_passage_gets_the_most_room_and_later_ones_less() -> None:
    def price_list(title: str) -> tuple[str, str]:
        rows = "\n".join(f"- {title} {i} — Цена: {i} 000 ₸" for i in range(60))
        return f"{title}\n{title} 30 — Цена: 30 000 ₸", f"{title}\n{rows}"

    hits = [SearchHit(id=title, score=0.9, payload={"content": content, "section": section})
            for title, (content, section) in
            (("Маникюр", price_list("Маникюр")), ("Педикюр", price_list("Педикюр")))]
    first, second = passages_from_hits(hits, 5)
    assert PASSAGE_CHARS - 60 < len(first.content) <= PASSAGE_CHARS
    assert LATER_PASSAGE_CHARS - 60 < len(second.content) <= LATER_PASSAGE_CHARS
    assert "Педикюр 30 — Цена: 30 000 ₸" in second.content


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


PRICES = Passage(
    "Цены > Маникюр\nКлассический — Мастер: 4 000 ₸\nГель-лак — Мастер: 9 000 ₸\n"
    "Френч — Мастер: + 2 200 ₸", "prices", "document", 0.9,
    matched=("Гель-лак — Мастер: 9 000 ₸",))
HOURS = Passage("Часы работы\nБудни: 9:00 – 21:00\nСуббота: 10:00 – 19:00", "hours",
                "document", 0.85, matched=("Суббота: 10:00 – 19:00",))


def test_the_no_llm_answer_is_the_line_with_its_title_not_the_section() -> None:
    assert compose_answer([PRICES], "сколько стоит гель-лак?") == \
        "Маникюр\nГель-лак — Мастер: 9 000 ₸"
    learned = Passage(learned_content("Есть парковка?", "Да, во дворе."), "learned", "learned",
                      0.95)
    assert compose_answer([learned, PRICES], "парковка есть?") == "Да, во дворе."


def test_a_two_part_question_gets_a_line_for_each_part() -> None:
    assert question_parts("сколько стоит гель-лак и до скольки работаете в субботу?") == \
        ["сколько стоит гель-лак", "до скольки работаете в субботу?"]
    assert question_parts("skolko stoit gel-lak i do skolki rabotaete v subbotu") == \
        ["сколко стоит гел-лак", "до сколки работаете в субботу"]
    answer = compose_answer([PRICES, HOURS],
                            "сколько стоит гель-лак и до скольки работаете в субботу?")
    assert answer == "Маникюр\nГель-лак — Мастер: 9 000 ₸\nЧасы работы\nСуббота: 10:00 – 19:00"
    assert compose_answer([PRICES, HOURS], "сколько стоит гель-лак?").count("\n") == 1


def scored(passage: Passage, *scores: float) -> Passage:
    return replace(passage, matched_scores=scores)


def test_a_close_call_between_the_best_two_lines_gives_both() -> None:
    question = "можно прийти?"  # neither line names more of it than the other
    close = compose_answer([scored(PRICES, 0.900), scored(HOURS, 0.895)], question)
    assert close == "Маникюр\nГель-лак — Мастер: 9 000 ₸\nЧасы работы\nСуббота: 10:00 – 19:00"
    clear = compose_answer([scored(PRICES, 0.900), scored(HOURS, 0.880)], question)
    assert clear == "Маникюр\nГель-лак — Мастер: 9 000 ₸"
    # without fused scores (a dense-only search) there is no close call
    assert compose_answer([PRICES, HOURS], question) == clear


ADDRESS = Passage("Контакты > Адрес\nМы находимся: проспект Абая, 52, 1 этаж.", "contacts",
                  "document", 0.9, matched=("Мы находимся: проспект Абая, 52, 1 этаж.",))
ADDRESS_KK = Passage("Байланыс > Мекенжай\nМекенжайымыз: Абай даңғылы, 52, 1-қабат.", "kz_contacts",
                     "document", 0.9, matched=("Мекенжайымыз: Абай даңғылы, 52, 1-қабат.",))


@pytest.mark.parametrize(("question", "both"), [
    ("где вы находитесь?", False),
    ("where are you located?", False),
    ("сіздер қай жерде орналасқансыздар?", True),
])
def test_a_kazakh_copy_is_no_close_call_unless_the_question_is_kazakh(question: str,
                                                                      both: bool) -> None:
    answer = compose_answer([scored(ADDRESS, 0.900), scored(ADDRESS_KK, 0.895)], question)
    assert answer.startswith("Адрес\nМы находимся") or answer.startswith("Мекенжай")
    assert ("Абай даңғылы" in answer and "проспект Абая" in answer) is both


def test_a_later_passage_s_line_that_answers_beats_a_first_passage_s_that_does_not() -> None:
    question = "до скольки работаете в субботу?"
    near = compose_answer([scored(PRICES, 0.900), scored(HOURS, 0.850)], question)
    # the search's own best line follows: it is the close call to the line taken
    assert near == "Часы работы\nСуббота: 10:00 – 19:00\nМаникюр\nГель-лак — Мастер: 9 000 ₸"
    far = compose_answer([scored(PRICES, 0.900), scored(HOURS, 0.700)], question)
    assert far == "Маникюр\nГель-лак — Мастер: 9 000 ₸"
    # without fused scores, the later passage stands a step below
    assert compose_answer([PRICES, HOURS], question) == "Часы работы\nСуббота: 10:00 – 19:00"


def test_a_part_of_a_question_is_read_with_the_whole_question() -> None:
    peels = Passage("Цены > Пилинги\nПилинг гликолевый — Цена: 10 100 ₸", "prices", "document",
                    0.9, matched=("Пилинг гликолевый — Цена: 10 100 ₸",), matched_scores=(0.9,))
    ages = Passage("Возраст\nНаращивание ресниц — с 16 лет\nПилинги — только с 18 лет", "kids",
                   "document", 0.88,
                   matched=("Наращивание ресниц — с 16 лет", "Пилинги — только с 18 лет"),
                   matched_scores=(0.890, 0.885))
    question = "сколько стоит гликолевый пилинг и с какого возраста?"
    assert question_parts(question)[1] == "с какого возраста?"  # says not what of
    assert compose_answer([peels, ages], question).split("\n")[-1] == "Пилинги — только с 18 лет"


def test_a_two_part_question_also_gets_the_close_call_line() -> None:
    prices = replace(PRICES, matched=("Гель-лак — Мастер: 9 000 ₸", "Френч — Мастер: + 2 200 ₸"),
                     matched_scores=(0.900, 0.896))
    hours = replace(HOURS, matched_scores=(0.850,))
    question = "гель-лак с френчем, сколько в субботу до скольки?"
    assert len(question_parts(question)) == 2
    assert compose_answer([prices, hours], question).split("\n") == [
        "Маникюр", "Гель-лак — Мастер: 9 000 ₸", "Часы работы", "Суббота: 10:00 – 19:00",
        "Маникюр", "Френч — Мастер: + 2 200 ₸"]  # under its title again, after another's line
    clear = replace(prices, matched_scores=(0.900, 0.880))
    assert "Френч" not in compose_answer([clear, hours], question)


def test_only_the_parts_that_ask_something_count_as_questions() -> None:
    assert asking_parts("сколько стоит гель-лак и до скольки работаете в субботу?") == \
        ["сколько стоит гель-лак", "до скольки работаете в субботу?"]
    # a greeting is no part of the question
    assert asking_parts("Здравствуйте, сколько стоит гель-лак?") == \
        ["Здравствуйте, сколько стоит гель-лак?"]
    assert asking_parts("мама на пенсии, по льготе месяц на сайране скок") == \
        ["по льготе месяц на сайране скок"]
    assert asking_parts("гель-лак қанша тұрады, сенбіде қашан ашыласыздар") == \
        ["гель-лак қанша тұрады", "сенбіде қашан ашыласыздар"]


def test_a_passage_searched_for_the_second_part_answers_it_a_step_below_the_search() -> None:
    question = "сколько стоит гель-лак и до скольки работаете в субботу?"
    second = question_parts(question)[1]
    prices = scored(PRICES, 0.90)
    other = Passage("Цены > Педикюр\nПедикюр — Мастер: 8 000 ₸", "prices", "document", 0.85,
                    matched=("Педикюр — Мастер: 8 000 ₸",), matched_scores=(0.86,))
    hours = replace(HOURS, part=second, matched_scores=(0.70,))  # another search's scores
    lines = compose_answer([prices, other, hours], question).split("\n")
    assert lines == ["Маникюр", "Гель-лак — Мастер: 9 000 ₸", "Часы работы",
                     "Суббота: 10:00 – 19:00"]
    # a passage searched for another part is no candidate for this one
    assert compose_answer([prices, other, replace(hours, part="другое")], question) \
        .split("\n")[-1] == "Педикюр — Мастер: 8 000 ₸"
    # a line of the whole question's passages that answers the part as well stays first
    hours_first = scored(replace(HOURS, doc_name="hours2"), 0.89)
    assert compose_answer([prices, hours_first, hours], question).count("Суббота") == 1


def test_a_question_asking_three_things_gets_a_line_for_each() -> None:
    question = ("Сәлеметсіз бе, сколько стоит гель-лак, до скольки работаете в субботу "
                "и где вы находитесь?")
    parts = question_parts(question)
    assert parts == ["сколько стоит гель-лак", "до скольки работаете в субботу",
                     "где вы находитесь?"]
    address = replace(ADDRESS, part=parts[2], matched_scores=(0.85,))  # the part's own search
    passages = [scored(PRICES, 0.90), scored(HOURS, 0.88), address]
    assert compose_answer(passages, question).split("\n") == [
        "Маникюр", "Гель-лак — Мастер: 9 000 ₸", "Часы работы", "Суббота: 10:00 – 19:00",
        "Адрес", "Мы находимся: проспект Абая, 52, 1 этаж."]
    # two lines of one passage in a row share its title
    two = compose_answer([scored(PRICES, 0.90), scored(HOURS, 0.88)],
                         "сколько стоит гель-лак, до скольки в субботу и в будни до скольки?")
    assert two.split("\n") == ["Маникюр", "Гель-лак — Мастер: 9 000 ₸", "Часы работы",
                                "Суббота: 10:00 – 19:00", "Будни: 9:00 – 21:00"]
    # without a line that speaks to the third part (no address found), none of the others
    assert compose_answer(passages[:2], question).split("\n") == [
        "Маникюр", "Гель-лак — Мастер: 9 000 ₸", "Часы работы", "Суббота: 10:00 – 19:00"]


def test_a_later_part_s_line_may_come_from_the_third_passage() -> None:
    question = "сколько стоит гель-лак и до скольки работаете в субботу?"
    passages = [scored(PRICES, 0.90), scored(ADDRESS, 0.88), scored(HOURS, 0.87)]
    assert compose_answer(passages, question).split("\n") == [
        "Маникюр", "Гель-лак — Мастер: 9 000 ₸", "Часы работы", "Суббота: 10:00 – 19:00"]


def test_a_line_stating_the_customer_s_number_or_a_range_holding_it_is_preferred() -> None:
    winter = Passage(
        "Новогодний график\n28–30 декабря: Центр 10:00–22:00\n31 декабря: Центр 9:00–17:00",
        "hours", "document", 0.9,
        matched=("28–30 декабря: Центр 10:00–22:00", "31 декабря: Центр 9:00–17:00"),
        matched_scores=(0.900, 0.860))
    assert compose_answer([winter], "31 декабря центр до скольки работает?").split("\n")[1] == \
        "31 декабря: Центр 9:00–17:00"
    late = Passage("Опоздания\nДо 10 минут — делаем услугу полностью\nОт 10 до 20 минут — "
                   "сокращённая услуга", "rules", "document", 0.9,
                   matched=("До 10 минут — делаем услугу полностью",
                            "От 10 до 20 минут — сокращённая услуга"),
                   matched_scores=(0.900, 0.860))
    assert "От 10 до 20 минут" in compose_answer([late], "опоздаю минут на 15, примете?")
    assert compose_answer([late], "что будет если опоздаю?").split("\n")[1] == \
        "До 10 минут — делаем услугу полностью"  # no number given: the search's order


@pytest.mark.parametrize(("question", "line", "states"), [
    ("31 декабря работаете?", "31 декабря: 9:00–17:00", True),
    ("31 декабря работаете?", "28–30 декабря: до 22:00", False),
    ("дочке 10 лет, можно гель-лак?", "Детям 7–12 лет — детский маникюр", True),
    ("booking for about 35,000 tenge, a deposit?", "от 25 000 ₸ до 50 000 ₸ — 30 %", True),
    ("open at 9?", "Понедельник: 9:00 – 21:00", True),
    ("open at 23?", "Понедельник: 9:00 – 21:00", False),
    ("4 300 тенге за маникюр?", "Педикюр — 14 300 ₸", False),
    ("до скольки работаете?", "Понедельник: 9:00 – 21:00", False),
])
def test_numbers_the_customer_gives(question: str, line: str, states: bool) -> None:
    assert states_number(numbers_in(question), line) is states


def test_char_ngrams_fold_case_yo_and_digit_groups() -> None:
    assert char_ngrams("Ёж") == [" еж", "еж "]
    assert char_ngrams("5 000 ₸") == char_ngrams("5000")


# words, digits (thousands with spaces), punctuation, `ё`, underscores and single letters
_TEXT = st.text(alphabet="абвгдеёжАБЁ әқң abcXYZ 0123 5 000 _-—:;.,!?\n\u00a0", max_size=80)


@given(question=_TEXT, text=_TEXT)
@settings(max_examples=300, deadline=None)
def test_n_grams_held_are_counted_as_the_n_grams_in_common(question: str, text: str) -> None:
    grams = set(char_ngrams(question))
    assert held_ngrams(grams, text) == len(grams & set(char_ngrams(text)))
    assert distinct_ngrams(text) == len(set(char_ngrams(text)))

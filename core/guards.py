"""Guards of the rule layers: words that turn a mention into its opposite.

- negation next to a mention: "менеджер не нужен", "без претензий", "шағым емес", "no need for
  a manager", "рассрочка не нужна" name a topic without asking for it;
- an information question: "сколько стоит массаж для беременных?", "анестезия входит в цену
  или оплачивается отдельно?" mention a topic's word while asking for a price;
- "just asking": "просто на будущее спрашиваю", "жай сұрақ", "just curious".

Embeddings do not see a negation, so these stay rules (PRODUCT.md §4)."""

from __future__ import annotations

from core.matching import Hit, compile_patterns

# How far from a mention a negation still belongs to it (in words).
WORDS_AFTER = 3
WORDS_BEFORE = 4

NEGATION_AFTER = compile_patterns(
    phrases=("не нужен", "не нужна", "не нужно", "не нужны", "не надо", "не требуется",
             "не обязательно", "не обязателен", "не имею", "керек емес", "жоқ", "нет", "ne nado",
             "ne nuzhen", "ne nuzhno", "not needed", "not necessary", "уже ответил", "уже ответила",
             "уже связался", "уже связалась", "уже позвонил", "уже позвонила", "already answered",
             "already called", "жауап берді", "не придется", "не нужно будет", "не надо будет"),
)
# Kazakh «емес» negates the word right before it only ("шағым емес"; "адам керек, бот емес"
# asks for a person).
RIGHT_AFTER = compile_patterns(phrases=("емес",))
NEGATION_BEFORE = compile_patterns(
    phrases=("без", "bez", "no", "not", "не надо", "не нужно", "не нужен", "ne nado",
             "don t need", "dont need", "do not need", "no need", "without", "не жалуюсь",
             "не жалуемся", "не в претензии"),
)
# A bare "не" negates the word right after it: "не перезванивайте", "не болит", "не отменяйте"
# (a pattern that starts with "не", "не приду", is matched whole); not a past tense, which
# reports what did not happen: "не перезвонили", "не позвонил" is a complaint.
NOT_RIGHT_BEFORE = {"не", "ne"}
_PAST_TENSE = ("л", "ла", "ли", "ло", "лись", "лась", "лся")
# What a negation after a request for a person may be about instead of the person.
_THE_BOT = {"бот", "бота", "боту", "робот", "bot", "robot", "программа", "автоответчик"}
# "есть или нет?", "бар ма жоқ па?": a question, not a negation.
_QUESTION_AFTER = {"ма", "ме", "ба", "бе", "па", "пе", "ли"}

INFO_QUESTION = compile_patterns(
    phrases=("сколько стоит", "сколько стоят", "скок стоит", "скока стоит", "сколько будет",
             "сколько по времени", "сколько длится", "почем", "по чем", "прайс", "прайз",
             "бағасы қанша",
             "қанша тұрады", "қанша стоит", "how much",
             "skolko stoit", "cena", "tsena", "sk stoit", "больно ли", "это больно", "не больно",
             "ауырмай ма", "ауыра ма", "is it painful", "does it hurt", "условия отмены", "правила отмены",
             "политика отмены", "cancellation policy", "refund policy", "условия возврата", "больно делать",
             "будет больно", "больно будет", "насколько больно", "сильно больно", "ауыра ма екен"),
)
# A price named in a question ("цена на окрашивание?"); in a statement it asks nothing: "обещали
# скидку, а пробили полную цену".
PRICE_WORDS = compile_patterns(
    phrases=("цена", "цену", "цены", "ценник", "стоимость", "бағасы", "баға", "price", "prices", "cost",
             "cena", "tsena"),
)
QUESTION_WORDS = frozenset({"сколько", "какая", "какой", "какие", "какова", "ли", "қанша", "қандай",
                            "how", "what", "skolko", "kakaya"})

# When someone works: a question about them, not a request for them.
_ROLES = ("менеджер", "оператор", "администратор", "админ", "әкімші", "manager", "operator")
STAFF_HOURS = compile_patterns(
    phrases=("до скольки", "во сколько", "работают", "работает", "график", "смена", "нешеге дейін",
             "жұмыс істей ме", "жұмыс істейді", "what time", "working hours", "until when"),
)
JUST_ASKING = compile_patterns(
    phrases=("просто спрашиваю", "просто спросить", "просто спросила", "просто интересно",
             "просто вопрос", "просто сұрақ", "на будущее", "чисто спросить", "жай сұрақ", "жай сұрайын",
             "жай ғана сұрақ", "just asking", "just curious", "just wondering", "just a question",
             "просто интересуюсь", "просто уточняю", "уточняю на будущее", "просто узнать",
             "на всякий случай", "заранее спрашиваю", "спрашиваю заранее", "пока всё ок",
             "пока все хорошо", "asking in advance", "just checking", "for future reference",
             "алдын ала сұрап тұрмын", "білу үшін сұрадым"),
)


def negated(words: list[str], hit: Hit) -> bool:
    """A negation right after the mention ("менеджер не нужен") or right before it ("без
    менеджера", "no need for a manager")."""
    after = words[hit.end:hit.end + WORDS_AFTER + 1]
    for found in NEGATION_AFTER.hits(after, fuzzy=False):
        if found.end > WORDS_AFTER + 1:
            continue
        following = after[found.end:found.end + 1]
        previous = after[found.start - 1:found.start] if found.start else words[hit.end - 1:hit.end]
        if (following and following[0] in _QUESTION_AFTER) or previous == ["или"]:
            continue
        if previous and previous[0] in _THE_BOT:  # "позовите человека, бот не нужен"
            continue
        return True
    if RIGHT_AFTER.hits(words[hit.end:hit.end + 1], fuzzy=False):
        return True
    if (hit.start and words[hit.start - 1] in NOT_RIGHT_BEFORE
            and not words[hit.start].endswith(_PAST_TENSE)):
        return True
    before = words[max(hit.start - WORDS_BEFORE, 0):hit.start]
    return bool(NEGATION_BEFORE.hits(before, fuzzy=False))


def reported(words: list[str], hit: Hit) -> bool:
    """The mention is followed by a past tense, at most one word between ("менеджер обещал
    перезвонить", "администратор вчера сказала" tell what happened), or the message asks when
    they work ("менеджеры у вас до скольки работают?")."""
    if any(len(word) > 3 and word.endswith(_PAST_TENSE) for word in words[hit.end:hit.end + 2]):
        return True
    return hit.pattern.startswith(_ROLES) and bool(STAFF_HOURS.hits(words, fuzzy=False))


def asks_for_information(words: list[str], question: bool) -> bool:
    """`question`: the message has a question mark."""
    if INFO_QUESTION.hits(words, fuzzy=False):
        return True
    asked = question or bool(QUESTION_WORDS.intersection(words))
    return asked and bool(PRICE_WORDS.hits(words, fuzzy=False))


def just_asking(words: list[str]) -> bool:
    return bool(JUST_ASKING.hits(words, fuzzy=False))

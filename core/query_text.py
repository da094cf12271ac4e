"""Query normalisation before retrieval: Russian typed in Latin letters ("skolko stoit
manikur") back to Cyrillic, tenge amounts in one spelling ("50к", "50 тыс" → "50000"), and the
client's synonyms (Kazakh ↔ Russian ↔ English service names) added to the lexical query.

The dense query gets the script and amount fixes only (a multilingual model understands Kazakh
and English by itself); the lexical query also gets the synonyms, because character n-grams
of "талдау" never meet "анализ"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from core.synonyms import Lexicon

_LATIN_WORD = re.compile(r"[A-Za-z]+")
_WORDS = re.compile(r"[^\W\d_]+")
ANCHOR_MIN = 4
_CYRILLIC = re.compile(r"[А-Яа-яЁёӘәҒғҚқҢңӨөҰұҮүҺһІі]")
# Words that make a Latin-letter message English rather than transliterated Russian.
_ENGLISH = frozenset(
    "the an is are am was were be does did you your me my we our can could would "
    "how what when where which who why there this that it of for to in on at with and or "
    "have has price much many cost open close opened book need want any please hello hi "
    "thanks get give make time day week near from after before".split()
)
# Kazakh endings, longest first (`strip_kazakh_endings`).
KAZAKH_ENDINGS = tuple(sorted(
    "дағы дегі тағы тегі ндағы ндегі лары лері дары дері тары тері ның нің дың дің тың тің "
    "нан нен дан ден тан тен нда нде ға ге қа ке на не да де та те ды ді ты ті ны ні лар лер "
    "дар дер тар тер мен бен пен ыңыз іңіз ңыз ңіз сы сі ым ім ың ің".split(),
    key=len, reverse=True))
_TRANSLIT = (
    ("shch", "щ"), ("sch", "щ"), ("zh", "ж"), ("kh", "х"), ("ch", "ч"), ("sh", "ш"),
    ("ts", "ц"), ("yu", "ю"), ("ju", "ю"), ("ya", "я"), ("ja", "я"), ("yo", "ё"), ("jo", "ё"),
    ("iy", "ий"), ("yy", "ый"), ("ye", "е"), ("a", "а"), ("b", "б"), ("c", "ц"), ("d", "д"),
    ("e", "е"), ("f", "ф"), ("g", "г"), ("h", "х"), ("i", "и"), ("j", "й"), ("k", "к"),
    ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"), ("q", "к"), ("r", "р"),
    ("s", "с"), ("t", "т"), ("u", "у"), ("v", "в"), ("w", "в"), ("x", "кс"), ("y", "ы"),
    ("z", "з"), ("'", "ь"),
)
# Question and function words: their n-grams are everywhere in a knowledge base and drown the
# words that say what the customer wants (the dense model still reads the whole question).
STOPWORDS = frozenset("""
а в во на но и или у к ко с со за из от до по о об про для при без над под же ли бы то это
этот эта эти тот там тут здесь вот как какой какая какое какие каком какую какого каких каким
сколько скока скок скоко сколко скольки скольких почем почём стоит стоить стоимость будет будут
есть нет да можно нужно надо мне меня мой
моя мои мы нам нас вы вас вам ваш ваша ваши я он она они его ее их у вас ли чем что чтобы
когда где куда откуда почему зачем кто который которая если еще ещё уже только просто очень
пожалуйста подскажите скажите здравствуйте добрый день привет хочу хотела хотел хотим бы
вообще тоже также сейчас сегодня завтра ну ой там сам сама мне-то
мен сен сіз сіздер біз ол олар бар жоқ ма ме ба бе па пе қанша қандай қалай қай неше нешеге
кім не үшін және мен бен пен да де та те ғой ғана бола болады керек сәлеметсіз
the a an is are am was were be do does did you your i me my we our us can could would will
how what when where which who why there this that it of for to in on at with and or have has
please hi hello much many any some get
""".split())
_THOUSANDS = re.compile(
    r"(?<![\w.,])(\d+(?:[.,]\d+)?)\s?(?:к|k|тыс\.?|тысяч[аи]?|мың)(?![\w])", re.IGNORECASE
)
_DIGIT_GROUPS = re.compile(r"(?<=\d)[\s\u00a0\u202f](?=\d{3}\b)")
# Terms said in words, and the number of months price tables name them by ("годовой" is the row
# «12 месяцев»)
_DURATION_WORDS = (
    ((r"годов(?:ой|ая|ое|ую|ого|ом|ым|ые|ых)", r"на (?:1 |один |целый )?год", "за год", "yearly",
      r"annual\w*", "(?:a|one|1|per) year", r"жылдық\w*", r"бір жыл\w*"), "12 месяцев"),
    ((r"пол ?года", r"полугодов\w*", "half[- ]a[- ]year", r"half[- ]year\w*", "six months",
      r"жарты жыл\w*"), "6 месяцев"),
    ((r"квартал\w*", "три месяца", "three months", r"үш ай\w*"), "3 месяца"),
    ((r"месячн\w*", "на месяц", "monthly", "one month", "a month", r"бір ай\w*"), "1 месяц"),
)
_DURATIONS = tuple((re.compile(r"\b(?:" + "|".join(words) + r")\b", re.IGNORECASE), months)
                   for words, months in _DURATION_WORDS)


@dataclass(frozen=True, slots=True)
class NormalizedQuery:
    dense: str  # what the embedding model reads
    lexical: str  # what the character n-gram index reads


def looks_transliterated(text: str) -> bool:
    """Russian in Latin letters: Latin words, no Cyrillic, hardly any English word."""
    words = [w.lower() for w in _LATIN_WORD.findall(text)]
    if len(words) < 2 or _CYRILLIC.search(text):
        return False
    english = sum(w in _ENGLISH for w in words)
    return english * 4 < len(words)


def cyrillize(text: str) -> str:
    def word(match: re.Match[str]) -> str:
        latin = match.group(0).lower()
        out, i = [], 0
        while i < len(latin):
            for source, target in _TRANSLIT:
                if latin.startswith(source, i):
                    out.append(target)
                    i += len(source)
                    break
            else:
                out.append(latin[i])
                i += 1
        return "".join(out)

    return _LATIN_WORD.sub(word, text)


def spell_amounts(text: str) -> str:
    """"50к", "50 тыс", "1,5k" → "50000", "1500"; "5 000" → "5000"."""
    def thousands(match: re.Match[str]) -> str:
        value = float(match.group(1).replace(",", "."))
        return str(round(value * 1000))

    return _DIGIT_GROUPS.sub("", _THOUSANDS.sub(thousands, text))


def spell_durations(text: str) -> str:
    """The text with the number of months of each term it says in words ("годовой абонемент",
    "полгода", "annual", "жылдық"): "… 12 месяцев"."""
    named = [name for pattern, name in _DURATIONS if pattern.search(text)]
    return f"{text} {' '.join(named)}" if named else text


def normalize_for_embedding(text: str) -> str:
    text = text.strip()
    if looks_transliterated(text):
        text = cyrillize(text)
    return spell_amounts(text)


def content_words(text: str) -> str:
    """The text without question and function words (itself when nothing else is left)."""
    words = [w for w in re.findall(r"[^\W_]+(?:-[^\W_]+)*", text.lower().replace("ё", "е"))
             if w not in STOPWORDS]
    return " ".join(words) if words else text


def normalize_query(text: str, lexicon: Lexicon | None = None) -> NormalizedQuery:
    dense = normalize_for_embedding(text)
    lexical = content_words(spell_durations(dense))
    if dense != text.strip() and looks_transliterated(text):
        lexical = f"{lexical} {text}"  # the Latin spelling may match Latin names in the base
    if lexicon is not None:
        extra = lexicon.expansions(lexical)
        if extra:
            lexical = f"{lexical} {' '.join(extra)}"
    return NormalizedQuery(dense=dense, lexical=lexical)


def shares_a_word(query: str, text: str) -> bool:
    """Whether a word of the query (four letters or more) appears in the text, endings aside
    (the first letters of the word, all but its last three, and at least four; or the word
    without its Kazakh endings: «Шымкенттегі» is «Шымкент»)."""
    words = set(folded_words(text))
    for word in folded_words(query):
        if len(word) >= ANCHOR_MIN:
            stems = (word_stem(word), strip_kazakh_endings(word))
            if any(other.startswith(stem) for other in words for stem in stems):
                return True
    return False


def folded_words(text: str) -> list[str]:
    """The words of a text (letters only), lower-case, «ё» read as «е»."""
    return _WORDS.findall(text.lower().replace("ё", "е"))


def word_stem(word: str) -> str:
    """A word without its ending: all but its last three letters, at least ANCHOR_MIN."""
    return word[: max(ANCHOR_MIN, len(word) - 3)]


@lru_cache(maxsize=10_000)
def strip_kazakh_endings(word: str) -> str:
    """A (lower-case) word without its Kazakh case, plural and possessive endings, at least
    ANCHOR_MIN letters left: «мегадағы» → «мега», «зейнеткерлерге» → «зейнеткер». Kazakh
    stacks its endings, so a Kazakh word is not found by cutting a fixed number of letters."""
    stem, cut = word, True
    while cut:
        cut = False
        for ending in KAZAKH_ENDINGS:
            if stem.endswith(ending) and len(stem) - len(ending) >= ANCHOR_MIN:
                stem, cut = stem[: -len(ending)], True
                break
    return stem

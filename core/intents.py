"""Intent classification: a fast rule layer first (Russian, Kazakh, English), the LLM for the rest."""

from __future__ import annotations

from dataclasses import dataclass

from core.matching import Patterns, compile_patterns, normalize
from core.models import Intent

HUMAN_REQUEST = compile_patterns(
    phrases=("живой человек", "живого человека", "живым человеком", "с человеком",
             "реальный человек", "тірі адам", "адаммен", "real person", "real human",
             "talk to a human", "speak to a human", "live agent", "someone real",
             "talk to a person", "speak to a person"),
    stems=("менеджер", "менеджр", "менежер", "манагер", "манеджер", "менаджер", "оператор",
           "оператр", "администратор", "позовите", "позови", "соедините", "свяжите меня",
           "переключите", "manager", "operator"),
)
REJECTION = compile_patterns(
    phrases=("стоп", "stop", "хватит", "отстань", "отстаньте", "не надо", "не нужно",
             "unsubscribe", "жазбаңыз", "жазба", "керек емес", "не беспокойте"),
    stems=("не пишите", "не пиши", "больше не пиш", "перестаньте писать", "отпиш",
           "не присылайте", "don t write", "stop writing", "leave me alone"),
)
FRUSTRATION = compile_patterns(
    phrases=("ужас", "кошмар", "безобразие", "достали", "бесит", "надоело", "тупой бот",
             "вы издеваетесь", "wtf", "terrible", "awful", "useless", "ridiculous"),
    stems=("бесполезн", "отвратительн", "возмутительн", "не помогаете", "не помогает",
           "не понимаешь", "не понимаете", "сколько можно", "хамств", "обманул", "обман",
           "жалоб", "пожалу", "недовол", "нашар", "ашулан"),
)
GREETING = compile_patterns(
    phrases=("привет", "приветствую", "здравствуйте", "здраствуйте", "здрасте", "здравствуй",
             "добрый день", "добрый вечер", "доброе утро", "доброго дня", "салем", "сәлем",
             "салам", "сәлеметсіз бе", "салеметсиз бе", "ассалаумағалейкум", "асалаумағалейкум",
             "қайырлы күн", "hello", "hi", "hey", "good morning", "good afternoon", "добрый"),
)
THANKS = compile_patterns(
    phrases=("спасибо", "спс", "пасиб", "благодарю", "спасибочки", "рахмет", "рақмет",
             "көп рахмет", "thanks", "thank you", "thx", "большое спасибо", "огромное спасибо"),
)
BOT_QUESTION = compile_patterns(
    phrases=("вы бот", "ты бот", "это бот", "вы робот", "ты робот", "бот отвечает", "вы человек",
             "ты человек", "вы живой", "ты живой", "вы живой человек", "это живой человек",
             "это человек", "are you a bot", "are you a robot", "are you human",
             "are you a real person", "are you a human", "are you real", "is this a bot",
             "is this a real person", "сен ботсың ба", "сіз ботсыз ба", "бот па",
             "сіз адамсыз ба"),
)
# "Менеджер не нужен": the customer declines a person (an opt-out while a request is pending),
# which must not be read as a request for one.
DECLINES_MANAGER = compile_patterns(
    phrases=("не нужен", "не нужна", "не нужно", "не надо", "не зовите", "не надо звать",
             "без менеджера", "уже не нужно", "don t need", "no need", "керек емес"),
)
# Words that may surround a greeting or a thanks without making it a question.
_FILLER = {"вам", "вас", "тебе", "большое", "огромное", "всем", "там", "ну", "ок", "ok", "да",
           "хорошо", "понятно", "ясно", "you", "very", "much", "so", "there", "all", "көп", "сізге"}


@dataclass(frozen=True, slots=True)
class Classification:
    intent: Intent
    source: str  # "rules" | "llm" | "fallback"
    matched: str | None = None


def _is_only(patterns: Patterns, normalized: str) -> str | None:
    """A greeting or thanks counts only when the message is little more than that."""
    found = patterns.find(normalized)
    if found is None:
        return None
    rest = f" {normalized} ".replace(f" {found} ", " ").split()
    rest = [w for w in rest if w not in _FILLER and patterns.find(w) is None]
    return found if not rest else None


def classify_by_rules(text: str) -> Classification | None:
    """The obvious cases, with no LLM; None when the rules are not sure."""
    normalized = normalize(text)
    # Questions about the bot and "no manager needed" mention people without asking for one.
    if not normalized or is_bot_question(text) or declines_manager(text):
        return None
    if matched := HUMAN_REQUEST.find(normalized):
        return Classification(Intent.HUMAN_REQUEST, "rules", matched)
    # "стоп" inside a longer question ("стоп, а сколько стоит…") is not an opt-out.
    if (matched := REJECTION.find(normalized)) and len(normalized.split()) <= 6:
        return Classification(Intent.REJECTION, "rules", matched)
    if matched := _is_only(GREETING, normalized):
        return Classification(Intent.GREETING, "rules", matched)
    if matched := _is_only(THANKS, normalized):
        return Classification(Intent.THANKS, "rules", matched)
    return None


def is_bot_question(text: str) -> bool:
    """"Are you a bot?" is a question about us, not a request for a person (PRODUCT.md §4)."""
    return BOT_QUESTION.find(normalize(text), fuzzy=False) is not None


def declines_manager(text: str) -> bool:
    normalized = normalize(text)
    return bool(HUMAN_REQUEST.find(normalized) and DECLINES_MANAGER.find(normalized, fuzzy=False))


def classify_frustration(text: str) -> Classification | None:
    """Checked after the escalation policy, so that a complaint is reported as a policy topic."""
    matched = FRUSTRATION.find(normalize(text))
    return Classification(Intent.FRUSTRATION, "rules", matched) if matched else None

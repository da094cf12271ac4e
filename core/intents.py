"""The rule layer for intents (Russian, Kazakh, English, Russian in Latin letters): the obvious
cases decided without embeddings or an LLM. What the rules do not settle goes to the semantic
layer (`core.semantic`), then to the LLM when one is configured."""

from __future__ import annotations

from dataclasses import dataclass

from core.guards import negated, reported
from core.matching import Hit, Patterns, compile_patterns, normalize
from core.models import Intent

# An explicit request for a person: asked for by role or in so many words, or a call back.
HUMAN_REQUEST = compile_patterns(
    phrases=("живой человек", "живого человека", "живым человеком", "с человеком",
             "с живым", "кто живой", "кто нибудь живой", "кто нибудь из людей",
             "можно человека", "дайте человека", "позовите человека", "нужен человек",
             "нормального человека", "человека нормального", "nuzhen chelovek",
             "из людей", "реальный человек", "тірі адам", "адаммен", "адамға", "адам керек",
             "real person", "real human", "a human", "to a human", "live agent", "someone real",
             "talk to a person", "speak to a person", "talk to someone", "speak to someone",
             "speak with someone", "talk with someone", "someone from", "call me",
             "call me back", "give me a ring", "ring me", "phone me", "a call", "video call",
             "phone call", "кто нибудь из", "из сотрудников", "из ваших", "s chelovekom",
             "zhivym chelovekom", "zhivoy chelovek", "representative", "an agent", "customer service",
             "actual person", "someone who can help", "колл центр", "call center", "с сотрудником",
             "с консультантом", "со специалистом", "с владельцем", "с директором", "с руководителем",
             "с руководством", "с главным", "қызметкермен", "маманмен", "басшымен", "иесімен",
             "с хозяйкой", "с хозяином", "с владелицей", "с главврачом", "главврачу", "с ресепшн",
             "с ресепшеном", "с регистратурой", "ресепшнға", "ресепшенге", "регистратураға",
             "someone from your",
             "someone in charge", "a person please", "get me someone", "put me through",
             "апайға қосыңызшы", "ағайға қосыңызшы", "дәрігерге қосыңызшы", "шеберге қосыңызшы",
             "маманға қосыңызшы", "апайға жалғаңызшы", "дәрігерге жалғаңызшы", "мне набрать", "мне позвонить",
             "мне перезвонить", "чтобы мне позвонил", "чтобы мне перезвонил", "чтобы мне позвонила",
             "чтобы мне перезвонила", "чтобы со мной связал"),
    stems=("менеджер", "менеджр", "менежер", "манагер", "манеджер", "менаджер", "оператор",
           "оператр", "администратор", "админстратор", "админ", "әкімші", "позовите", "позови",
           "позавите", "соедините", "соединить", "свяжите", "свяжитесь", "переключите",
           "перезвон", "позвоните", "позвонить мне", "наберите", "поговор",
           "набери меня", "звякни", "поговорить с", "пообщаться с", "напишите мне в личку",
           "дайте номер", "пусть позвонит", "пусть напишет", "пусть свяжется", "кто у вас главный",
           "хабарлас", "байланыстыр", "қоңырау шал", "сөйлескім", "сөйлесуге", "связаться",
           "manager", "operator", "speak to", "speak with", "talk to", "call back",
           "menedzher", "menedjer", "operatora", "pozvonite", "perezvonite", "naberite",
           "svyazhite", "soedinite", "pozovite", "пусть набер", "пусть перезвон", "пусть позвон",
           "связался со мной", "связалась со мной", "связались со мной", "свяжется со мной",
           "свяжутся со мной", "наберите мне", "наберете мне", "жалғаңыз", "жалғап жібер",
           "хабарласыңыз", "хабарласа ала", "reach me", "contact me", "ring back",
           "connect me", "transfer me", "zvonite mne", "nabrat menya", "отпишите мне", "из персонала",
           "можно номер", "скиньте номер", "дайте телефон", "номер мастер", "номер врач",
           "номер флорист", "номер телефона мастер", "номер доктор", "контакт мастер"),
)
REJECTION = compile_patterns(
    phrases=("стоп", "stop", "хватит", "отстань", "отстаньте", "unsubscribe", "отписка",
             "не беспокойте", "hvatit", "болды"),
    stems=("не пишите", "не пиши", "не пишити", "больше не пиш", "перестаньте писать",
           "не присылайте", "ничего не присылайте", "отпишите меня", "отпишите от", "отписаться",
           "отпишитесь от", "отпишись от",
           "не надо мне больше", "хватит мне писать",
           "хватит писать", "хватит спам", "прекратите рассылк", "удалите мой номер",
           "оставьте меня в покое", "жазбаңыз", "жазбаңдар", "жазбаңыздар", "жазба",
           "жібермеңіз", "мазаламаңыз", "жазуды доғар", "жазуды тоқтат", "don t write",
           "don t text", "do not text", "dont text", "stop writing", "stop texting",
           "leave me alone", "remove me from", "ne pishite", "ne pishi", "ostavte menya",
           "otpishite", "ne nado mne pisat", "уберите меня из", "удалите меня из", "исключите меня",
           "не надо мне ничего пис", "не надо мне писать", "сообщения больше не нужн",
           "больше не нужны сообщения", "рассылка не нужна", "рассылку не надо", "take me off",
           "opt out", "тізімнен шығар", "хабарлама керек емес", "stop messag", "stop send",
           "stop contact", "перестаньте мне писать", "прекратите писать", "уберите мой номер",
           "удалите мой номер", "remove my number", "меня из рассылки", "номер из рассылки",
           "меня от рассылки", "номер от рассылки", "отпишите этот номер", "отпишите мой номер",
           "хватит присылать", "прекратите присылать", "перестаньте присылать", "хорош спам",
           "отвяжитесь", "отвяжись", "otstan te", "otstante", "otvyazhites"),
)
# Short "стоп"-like words count only in a short message ("стоп, а сколько стоит…" is a question).
_SHORT_REJECTIONS = {"стоп", "stop", "хватит", "hvatit", "болды"}
FRUSTRATION = compile_patterns(
    phrases=("ужас", "кошмар", "безобразие", "достали", "бесит", "надоело", "тупой бот",
             "вы издеваетесь", "издеваетесь", "издеваешься", "ты издеваешься", "wtf", "terrible",
             "awful", "useless",
             "ridiculous", "тупой", "тупая", "сколько можно", "третий раз", "второй раз пишу"),
    stems=("бесполезн", "отвратительн", "возмутительн", "не помогаете", "не помогает",
           "не понимаешь", "не понимаете", "ничего не понима", "хамств", "обманул", "обман",
           "жалоб", "пожаловат", "пожалуюсь", "недовол", "нашар", "ашулан", "түсінбей",
           "жүйкем", "зачем этот бот", "бот тупой", "ботың"),
)
GREETING = compile_patterns(
    phrases=("привет", "приветствую", "здравствуйте", "здраствуйте", "здрасте", "здравствуй",
             "добрый день", "добрый вечер", "доброе утро", "доброго дня", "салем", "сәлем",
             "салам", "сәлеметсіз бе", "салеметсиз бе", "ассалаумағалейкум", "асалаумағалейкум",
             "ассалаумалейкум", "қайырлы күн", "қайырлы таң", "қайырлы кеш", "hello", "hi",
             "hey", "good morning", "good afternoon", "good evening", "добрый", "privet"),
)
THANKS = compile_patterns(
    phrases=("спасибо", "спс", "пасиб", "благодарю", "спасибочки", "рахмет", "рақмет",
             "көп рахмет", "thanks", "thank you", "thx", "большое спасибо", "огромное спасибо",
             "spasibo"),
)
BOT_QUESTION = compile_patterns(
    phrases=("вы бот", "ты бот", "это бот", "вы робот", "ты робот", "бот отвечает", "вы человек",
             "ты человек", "вы живой", "ты живой", "вы живой человек", "это живой человек",
             "это человек", "живые люди", "вы живые", "или робот", "или бот", "ты нейросеть",
             "вы нейросеть", "это нейросеть", "автоответчик", "are you a bot", "are you a robot",
             "are you human", "are you a real person", "are you a human", "are you real",
             "is this a bot", "is this a real person", "is this an ai", "is this ai",
             "an ai answering", "talking to a bot", "is this chat automated", "automated",
             "сен ботсың ба", "сіз ботсыз ба", "бот па", "бот ба", "ботсың ба", "ботсыз ба",
             "сіз адамсыз ба", "жасанды интеллект", "автоматты жауап", "ботпен сөйлесіп",
             "ty bot", "eto bot", "vy bot", "chatgpt", "бот это", "бот или", "или оператор",
             "или человек", "или живой", "или живой человек", "или ии", "or a bot", "or a human",
             "or a person", "bot or", "бот әлде", "әлде бот", "әлде адам", "ты ии", "вы ии",
             "искусственный интеллект", "нейросеть отвечает", "с программой", "или программа",
             "с роботом", "человек отвечает", "chelovek otvechaet", "кто мне отвечает",
             "who am i talking to", "who am i chatting with", "am i chatting with",
             "am i talking to a", "talking to a machine"),
)
# While a request is open, a short "не надо" cancels it (in any other state it is a polite no).
CANCELS_REQUEST = compile_patterns(
    phrases=("не надо", "не нужно", "уже не нужно", "уже не надо", "не нужен", "керек емес",
             "отбой", "no need", "not needed", "don t need", "never mind"),
)
# Words that may surround a greeting or a thanks without making it a question.
_FILLER = {"вам", "вас", "тебе", "большое", "огромное", "всем", "там", "ну", "ок", "ok", "да",
           "хорошо", "понятно", "ясно", "you", "very", "much", "so", "there", "all", "көп", "сізге",
           "девочки", "девушки", "қалайсыздар", "түсінікті", "всё", "все", "a", "lot", "супер",
           "super", "bolshoe", "понял", "поняла"}


@dataclass(frozen=True, slots=True)
class Classification:
    """The intent of a turn, where it came from, and what decided it (for the audit and the
    request card): a rule pattern, an example phrase and its cosine, or the LLM."""

    intent: Intent
    source: str  # "rules" | "semantic" | "llm" | "fallback"
    matched: str | None = None
    topic: str | None = None  # an escalation-policy topic the message is about
    score: float | None = None  # the example's cosine, for semantic matches


def only(patterns: Patterns, words: list[str]) -> str | None:
    """A greeting or thanks counts only when the message is little more than that."""
    hits = patterns.hits(words, fuzzy=False)
    if not hits:
        return None
    covered = {i for hit in hits for i in range(hit.start, hit.end)}
    rest = [w for i, w in enumerate(words) if i not in covered and w not in _FILLER]
    return hits[0].pattern if not rest else None


def only_courtesy(text: str) -> bool:
    """Nothing but a greeting or thanks ("Здравствуйте", "Сәлеметсіз бе", "спасибо заранее")."""
    words = normalize(text).split()
    return bool(words) and bool(only(GREETING, words) or only(THANKS, words))


def first_affirmed(patterns: Patterns, words: list[str], *, reports: bool = False) -> Hit | None:
    """The first mention that is not negated ("менеджер не нужен" asks for nobody); with
    `reports`, nor followed by a past tense: "администратор нагрубила", "менеджер обещал"
    tell what a person did (the semantic layer hears what is wrong), they ask for no one."""
    for fuzzy in (False, True):
        hits = patterns.hits(words, fuzzy=fuzzy)
        if affirmed := [h for h in hits if not negated(words, h)
                        and not (reports and reported(words, h))]:
            return min(affirmed, key=lambda h: h.start)
        if hits:
            return None
    return None


def classify_by_rules(text: str) -> Classification | None:
    """The obvious intents, with no LLM; None when the rules are not sure."""
    words = normalize(text).split()
    # Questions about the bot and "no manager needed" mention people without asking for one.
    if not words or is_bot_question(text):
        return None
    if hit := first_affirmed(HUMAN_REQUEST, words, reports=True):
        return Classification(Intent.HUMAN_REQUEST, "rules", hit.pattern)
    if rejection := rejects_the_bot(words):
        return Classification(Intent.REJECTION, "rules", rejection)
    if matched := only(GREETING, words):
        return Classification(Intent.GREETING, "rules", matched)
    if matched := only(THANKS, words):
        return Classification(Intent.THANKS, "rules", matched)
    return None


def rejects_the_bot(words: list[str]) -> str | None:
    """Short words ("стоп", "болды") only open a short message: "бәрі түсінікті болды" is
    "all was clear", "стоп, а сколько стоит…" a question."""
    for hit in REJECTION.hits(words, fuzzy=False):
        if hit.pattern not in _SHORT_REJECTIONS:
            return hit.pattern
        if len(words) <= 6 and all(w in _FILLER for w in words[:hit.start]):
            return hit.pattern
    return None


def is_bot_question(text: str) -> bool:
    """"Are you a bot?" is a question about us, not a request for a person (PRODUCT.md §4);
    "бот отвечает невпопад, вы издеваетесь?" is frustration, not a question."""
    words = normalize(text).split()
    return bool(BOT_QUESTION.hits(words, fuzzy=False)) and first_affirmed(FRUSTRATION, words) is None


def declines_manager(text: str) -> bool:
    """A person is mentioned, and only in the negative ("менеджер не нужен")."""
    words = normalize(text).split()
    hits = HUMAN_REQUEST.hits(words, fuzzy=False)
    return bool(hits) and all(negated(words, h) for h in hits)


def cancels_request(text: str) -> bool:
    """While a request is open: "менеджер не нужен", or a short "не надо, спасибо"."""
    words = normalize(text).split()
    return declines_manager(text) or (len(words) <= 5 and bool(CANCELS_REQUEST.hits(words)))

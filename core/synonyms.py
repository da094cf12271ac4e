"""A client's synonym list: groups of names for one thing (Kazakh, Russian, English, old and new
names). Query normalisation adds the other names of a group when the question uses one of them.

The list of a client is the built-in groups below (everyday words of salons, clinics, shops,
fitness clubs, education centres, veterinary clinics and cafes, in Kazakh, Russian and English;
English questions over a Russian base match its lines through them), the groups learnt from its
documents' headings and table rows at ingestion ("Педиатрлар (балалар дәрігерлері)", "Боралдай
(Бурундай)"), and the groups the operator adds."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_ALIAS = re.compile(r"([^()\n|:;,.]{3,60}?)\s*\(([^()\n|]{3,60})\)")
MAX_ALIAS_WORDS = 4
STEM_MIN = 4  # a term matches words that start with its first len-2 letters (at least this many)
PREFIX = 2  # index key: the first letters of a term (every stem has at least this many)

BUILT_IN_GROUPS: tuple[tuple[str, ...], ...] = (
    ("цена", "стоимость", "сколько стоит", "баға", "бағасы", "қанша тұрады", "price", "cost",
     "how much"),
    ("адрес", "где находится", "находитесь", "расположены", "мекенжай", "қай жерде",
     "address", "location", "where"),
    ("время работы", "график", "часы работы", "жұмыс уақыты", "кесте", "open", "hours",
     "working hours"),
    ("выходной", "демалыс", "day off"),
    ("понедельник", "дүйсенбі", "monday"), ("вторник", "сейсенбі", "tuesday"),
    ("среда", "сәрсенбі", "wednesday"), ("четверг", "бейсенбі", "thursday"),
    ("пятница", "жұма", "friday"), ("суббота", "сенбі", "saturday"),
    ("воскресенье", "жексенбі", "sunday"), ("праздник", "мереке", "holiday"),
    ("утро", "таңертең", "morning"), ("вечер", "кеш", "evening"),
    ("запись", "записаться", "жазылу", "book", "booking", "appointment"),
    ("отмена", "отменить", "бас тарту", "cancel", "cancellation"),
    ("оплата", "оплатить", "төлем", "төлеу", "pay", "payment"),
    ("скидка", "жеңілдік", "discount"), ("акция", "акциясы", "promotion", "promo"),
    ("рассрочка", "бөліп төлеу", "installment", "instalments"),
    ("подарочный сертификат", "сыйлық сертификаты", "gift certificate", "gift card"),
    ("возврат", "вернуть", "қайтару", "refund", "return"),
    ("доставка", "жеткізу", "delivery", "deliver"), ("курьер", "courier"),
    ("самовывоз", "өзі алып кету", "pickup", "pick up"),
    ("парковка", "автотұрақ", "parking"), ("телефон", "номер", "phone", "number"),
    ("филиал", "бөлімше", "branch"),
    ("ребенок", "дети", "детский", "бала", "балалар", "child", "kid", "kids", "children"),
    ("врач", "доктор", "дәрігер", "doctor"), ("анализ", "анализы", "талдау", "test", "tests"),
    ("кровь", "қан", "blood"), ("моча", "зәр", "urine"), ("зуб", "зубы", "тіс", "tooth", "teeth"),
    ("стоматолог", "тіс дәрігері", "dentist"), ("узи", "удз", "ultrasound"),
    ("прививка", "вакцина", "екпе", "vaccine", "vaccination"),
    ("справка", "анықтама", "certificate"), ("беременность", "жүктілік", "pregnancy"),
    ("прием", "консультация", "қабылдау", "consultation"), ("результат", "нәтиже", "result"),
    ("натощак", "аш қарынға", "empty stomach"), ("на дому", "үйге", "at home", "home visit"),
    ("страховка", "сақтандыру", "insurance"),
    ("маникюр", "manicure", "nails"), ("педикюр", "pedicure"), ("ногти", "тырнақ", "nails"),
    ("стрижка", "шаш қию", "haircut"), ("волосы", "шаш", "hair"),
    ("окрашивание", "бояу", "coloring", "colouring", "dye"), ("брови", "қас", "eyebrows", "brows"),
    ("ресницы", "кірпік", "eyelashes", "lashes"), ("массаж", "massage"),
    ("макияж", "makeup", "make-up"), ("мастер", "шебер", "master", "stylist"),
    ("цветы", "гүл", "гүлдер", "flowers"), ("букет", "bouquet"), ("роза", "розы", "rose", "roses"),
    ("торт", "cake"), ("шары", "шар", "balloons", "balloon"), ("подарок", "сыйлық", "gift"),
    ("открытка", "card"), ("свадьба", "той", "wedding"), ("день рождения", "туған күн", "birthday"),
    # services and things customers name in English
    ("стрижка", "haircut"), ("наращивание", "extension", "extensions"),
    ("депиляция", "шугаринг", "воск", "waxing", "sugaring"), ("пилинг", "peel", "peeling"),
    ("чистка лица", "facial"), ("мелирование", "highlights"), ("укладка", "styling", "blowout"),
    ("визажист", "makeup artist"), ("терапевт", "therapist"), ("педиатр", "pediatrician"),
    ("гинеколог", "gynecologist"), ("офтальмолог", "окулист", "eye doctor", "ophthalmologist"),
    ("ортодонт", "брекеты", "orthodontist", "braces"), ("имплант", "имплантация", "implant"),
    ("пломба", "filling"), ("удаление", "удалить", "removal", "remove", "extraction"),
    ("чистка", "cleaning"), ("гарантия", "кепілдік", "warranty", "guarantee"),
    ("рентген", "снимок", "x-ray"), ("экг", "кардиограмма", "ecg"),
    ("направление", "жолдама", "referral"), ("больничный", "sick leave"),
    ("вызов на дом", "үйге шақыру", "house call"), ("медсестра", "медбике", "nurse"),
    ("сайт", "website", "site"), ("заказ", "заказать", "тапсырыс", "order"),
    ("упаковка", "packaging", "wrapping"), ("ваза", "vase"), ("корзина", "basket"),
    ("игрушка", "toy"), ("надпись", "inscription", "text"), ("ночь", "ночная", "night"),
    ("остановка", "аялдама", "stop"), ("этаж", "қабат", "floor"), ("вход", "entrance"),
    ("пандус", "коляска", "ramp", "wheelchair"), ("опоздание", "опоздать", "late"),
    ("предоплата", "алдын ала төлем", "prepayment", "deposit"),
    ("наличные", "қолма-қол", "cash"), ("карта", "карточка", "card"),
    # months and dates (holiday hours), staff and languages ("may" and "long" are left out:
    # "may I …", "how long …")
    ("январь", "января", "қаңтар", "january"), ("февраль", "февраля", "ақпан", "february"),
    ("март", "марта", "наурыз", "march"), ("апрель", "апреля", "сәуір", "april"),
    ("май", "мая", "мамыр"), ("июнь", "июня", "маусым", "june"),
    ("июль", "июля", "шілде", "july"), ("август", "августа", "тамыз", "august"),
    ("сентябрь", "сентября", "қыркүйек", "september"),
    ("октябрь", "октября", "қазан", "october"), ("ноябрь", "ноября", "қараша", "november"),
    ("декабрь", "декабря", "желтоқсан", "december"), ("новый год", "жаңа жыл", "new year"),
    ("сотрудник", "персонал", "қызметкер", "staff", "employee"),
    ("английский", "ағылшын", "english"), ("метро", "metro", "subway"),
    ("бесплатно", "тегін", "free"), ("минимальный", "минимум", "minimum"),
    ("вес", "салмақ", "weight"), ("неделя", "апта", "week", "weeks"),
    ("мастерская", "цех", "workshop"), ("корпоративный", "компания", "corporate", "company"),
    ("иностранная карта", "зарубежная карта", "foreign card"), ("онлайн", "online", "video"),
    # salon, clinic and shop words customers say in English
    ("короткие", "қысқа", "short"), ("средние", "орташа", "medium", "shoulder length"),
    ("длинные", "ұзын"), ("мужской", "ерлер", "men"), ("женский", "әйелдер", "women"),
    ("ботокс", "botox"), ("кератин", "keratin"), ("ламинирование", "lamination"),
    ("гель-лак", "gel polish", "gel"), ("коррекция", "correction", "refill"),
    ("снятие", "removal"), ("вросший ноготь", "ingrown nail"),
    ("зуб мудрости", "wisdom tooth"), ("глаз", "көз", "eye", "eyes"),
    ("кабинет", "room", "office"), ("неявка", "no-show", "missed"), ("вич", "hiv"),
    ("больничный", "sick note"), ("тюльпаны", "қызғалдақ", "tulips", "tulip"),
    ("пионы", "peonies"), ("хризантемы", "chrysanthemums"), ("лилии", "lilies"),
    ("гортензия", "hydrangea"), ("мишка", "плюшевый", "teddy bear"),
    ("коробка", "қорап", "box"), ("ярусный", "tiered"),
    # fitness clubs, education centres, veterinary clinics and cafes
    ("абонемент", "membership"), ("бассейн", "pool", "swimming pool"), ("сауна", "sauna"),
    ("хаммам", "hammam"), ("тренер", "жаттықтырушы", "trainer", "coach"),
    ("персональная тренировка", "personal training"), ("заморозка", "заморозить", "freeze"),
    ("шкафчик", "locker"), ("йога", "yoga"), ("бокс", "boxing"),
    ("занятие", "урок", "сабақ", "lesson", "class"), ("курс", "course"),
    ("преподаватель", "учитель", "мұғалім", "teacher", "tutor"), ("лагерь", "camp"),
    ("пробный урок", "trial lesson"), ("пробный экзамен", "mock test"),
    ("китайский", "қытай", "chinese"), ("носитель", "native speaker"),
    ("собака", "щенок", "dog", "puppy"), ("кошка", "котенок", "мысық", "cat", "kitten"),
    ("кастрация", "стерилизация", "castration", "neuter", "spay"), ("груминг", "grooming"),
    ("чипирование", "microchip"), ("ветпаспорт", "pet passport"),
    ("наркоз", "седация", "anesthesia", "anaesthesia", "sedation"),
    ("стационар", "inpatient"), ("зоогостиница", "boarding", "pet hotel"), ("корм", "pet food"),
    ("кролик", "қоян", "rabbit"), ("хорек", "ferret"),
    ("столик", "стол", "table"), ("бронь", "бронирование", "reservation", "reserve"),
    ("банкет", "banquet"), ("меню", "menu"), ("пицца", "pizza"), ("завтрак", "breakfast"),
    ("обед", "бизнес-ланч", "lunch"), ("ужин", "dinner"), ("счет", "bill"),
    ("вайфай", "wi-fi", "wifi"), ("пароль", "password"), ("лифт", "elevator"),
    ("сертификат", "voucher"),
)


def fold(term: str) -> str:
    return " ".join(_WORD.findall(term.lower().replace("ё", "е")))


def _stem(word: str) -> str:
    return word[: max(STEM_MIN, len(word) - 2)] if len(word) > STEM_MIN else word


class Lexicon:
    """Synonym groups, matched on word stems (Russian and Kazakh endings vary)."""

    def __init__(self, groups: Iterable[Sequence[str]] = ()) -> None:
        self.groups: list[tuple[str, ...]] = []
        # the terms by the first letters of their first word: a query looks up only its words'
        self._index: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        seen: set[tuple[str, ...]] = set()
        for group in groups:
            terms = tuple(dict.fromkeys(t for t in (fold(term) for term in group) if t))
            if len(terms) > 1 and terms not in seen:
                seen.add(terms)
                for term in terms:
                    stems = tuple(_stem(part) for part in term.split())
                    self._index.setdefault(stems[0][:PREFIX], []).append((len(self.groups),
                                                                          stems))
                self.groups.append(terms)

    @classmethod
    def for_client(cls, *extra: Iterable[Sequence[str]]) -> Lexicon:
        groups: list[Sequence[str]] = list(BUILT_IN_GROUPS)
        for more in extra:
            groups.extend(more)
        return cls(groups)

    def expansions(self, text: str) -> list[str]:
        """The other names of every group the text uses, not already in it."""
        words = fold(text).split()
        used: set[int] = set()
        for i, word in enumerate(words):
            for group, stems in self._index.get(word[:PREFIX], ()):
                if group not in used and _matches(words, i, stems):
                    used.add(group)
        extra: list[str] = []
        for group in sorted(used):
            extra.extend(term for term in self.groups[group]
                         if term not in extra and not _uses(words, term))
        return extra


def _matches(words: list[str], start: int, stems: tuple[str, ...]) -> bool:
    return start + len(stems) <= len(words) and all(
        words[start + j].startswith(stem) for j, stem in enumerate(stems))


def _uses(words: list[str], term: str) -> bool:
    stems = tuple(_stem(part) for part in term.split())
    return any(_matches(words, i, stems) for i in range(len(words)))


def learn_aliases(lines: Iterable[str]) -> list[tuple[str, str]]:
    """Name pairs written as "name (other name)" in headings and table-row names: a Kazakh
    title with its Russian word, a place with its old name, a term with its plain one."""
    pairs: list[tuple[str, str]] = []
    for line in lines:
        for match in _ALIAS.finditer(line):
            name = match.group(1).strip(" -—–«»\"'").split(": ")[-1]
            other = match.group(2).strip(" -—–«»\"'")
            if _short(name) and _short(other) and not any(ch.isdigit() for ch in other):
                pair = (fold(name), fold(other))
                if all(pair) and pair[0] != pair[1] and pair not in pairs:
                    pairs.append(pair)
    return pairs


def _short(phrase: str) -> bool:
    return 0 < len(phrase.split()) <= MAX_ALIAS_WORDS

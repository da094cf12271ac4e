"""The customer texts in Kazakh and English (the Russian ones, the defaults, are
`core.texts.CUSTOMER_DEFAULTS`; the keys are the same, and a test keeps them so)."""

from __future__ import annotations

KAZAKH_TEXTS: dict[str, str] = {
    "escalated": "Сұрағыңызды менеджерге жібердім, ол жақын арада жауап береді.",
    "escalated_closed": "Қазір жұмыс уақыты емес. Сұрағыңызды менеджерге жібердім, ол {when} "
                        "жауап береді.",
    "no_desk": "Өкінішке қарай, қазір бұл чатқа менеджерді қосу мүмкін емес. Бізге қоңырау "
               "шалыңыз немесе кейінірек жазыңыз, ал әзірге өзім көмектесуге тырысамын.",
    "pending_notice": "Менеджер жақын арада жауап береді, күте тұрыңыз.",
    "pending_notice_closed": "Менеджер {when} жауап береді, күте тұрыңыз.",
    "muted": "Жақсы, мазаламаймын. Қажет болсам, жазыңыз.",
    "opt_out_pending": "Жақсы, менеджерге жіберген сұрауды тоқтаттым. Қажет болсам, жазыңыз.",
    "greeting": "Сәлеметсіз бе! Бұл {client_name}, сізбен виртуалды көмекші сөйлесіп тұр. "
                "Қалай көмектесе аламын?",
    "thanks": "Оқасы жоқ! Сұрақтарыңыз болса, жазыңыз.",
    "bot_identity": "Иә, мен виртуалды көмекшімін ({client_name}): қызметтер, бағалар және "
                    "жазылу туралы сұрақтарға жауап беремін. Тірі адаммен сөйлескіңіз келсе, "
                    "«менеджер» деп жазыңыз.",
    "fallback": "Кешіріңіз, қазір бұл сұраққа жауап бере алмаймын. Сұрағыңызды тірі адамға "
                "жіберуім үшін «менеджер» деп жазыңыз.",
    "no_answer": "Өкінішке қарай, бұл сұраққа нақты жауабым жоқ. Сұрағыңызды тірі адамға "
                 "жіберуім үшін «менеджер» деп жазыңыз.",
    "delivery_apology": "Жауаптың кешіккені үшін кешіріңіз. Менеджер сізге жақын арада жазады.",
    "media_received": "Рахмет, файлыңызды алдым. Сұрағыңызды мәтінмен жазыңыз немесе адаммен "
                      "байланысу үшін «менеджер» деп жазыңыз.",
    "voice_received": "Рахмет! Дауыстық хабарламаларды әзірге тыңдай алмаймын. Сұрағыңызды "
                      "мәтінмен жазыңыз немесе адаммен байланысу үшін «менеджер» деп жазыңыз.",
    "rating_request": "Менеджердің көмегін 1-ден 5-ке дейін бағалаңызшы (тек санды жіберіңіз).",
    "rating_thanks": "Бағаңызға рахмет!",
    "flood_notice": "Сіз қатарынан көп хабарлама жібердіңіз: бәрін сақтадым, ретімен оқып, "
                    "жауап беремін. Сәл күте тұрыңыз; мүмкін болса, сұрағыңызды бір "
                    "хабарламамен жазыңыз.",
    "bot_identity_no_desk": "Иә, мен виртуалды көмекшімін ({client_name}): қызметтер, бағалар "
                            "және жазылу туралы сұрақтарға жауап беремін.",
    "fallback_no_desk": "Кешіріңіз, қазір бұл сұраққа жауап бере алмаймын. Бізге қоңырау "
                        "шалыңыз немесе кейінірек жазыңыз.",
    "no_answer_no_desk": "Өкінішке қарай, бұл сұраққа нақты жауабым жоқ. Бізге қоңырау шалыңыз "
                         "немесе басқаша сұраңыз.",
    "media_received_no_desk": "Рахмет, файлыңызды алдым. Сұрағыңызды мәтінмен жазыңыз.",
    "voice_received_no_desk": "Рахмет! Дауыстық хабарламаларды әзірге тыңдай алмаймын. "
                              "Сұрағыңызды мәтінмен жазыңыз.",
}

ENGLISH_TEXTS: dict[str, str] = {
    "escalated": "I've passed your question to a manager, who will reply soon.",
    "escalated_closed": "We're closed right now. I've passed your question to a manager, who "
                        "will reply {when}.",
    "no_desk": "Sorry, I can't bring a manager into this chat right now. Please call us or write "
               "later; meanwhile I'll try to help myself.",
    "pending_notice": "A manager will reply soon, please wait.",
    "pending_notice_closed": "A manager will reply {when}, please wait.",
    "muted": "OK, I won't bother you. Write when you need me.",
    "opt_out_pending": "OK, I've cancelled the request to a manager. Write if you need me.",
    "greeting": "Hello! This is {client_name}'s virtual assistant. How can I help?",
    "thanks": "You're welcome! Write if you have any questions.",
    "bot_identity": "Yes, I'm a virtual assistant ({client_name}): I answer questions about "
                    "services, prices and booking. If you need a real person, write \"manager\".",
    "fallback": "Sorry, I can't answer this question right now. Write \"manager\" and I'll pass "
                "it to a real person.",
    "no_answer": "Sorry, I don't have an exact answer to this question. Write \"manager\" and "
                 "I'll pass it to a real person.",
    "delivery_apology": "Sorry for the delay in answering. A manager will write to you shortly.",
    "media_received": "Thanks, I got your attachment. Please write your question as text, or "
                      "\"manager\" to reach a person.",
    "voice_received": "Thanks! I can't listen to voice messages yet. Please write your question "
                      "as text, or \"manager\" to reach a person.",
    "rating_request": "Please rate the manager's help from 1 to 5 (just send the number).",
    "rating_thanks": "Thank you for your rating!",
    "flood_notice": "You've sent a lot of messages in a row: I've kept them all and will read "
                    "them in order and reply. Please wait a little; if you can, put your "
                    "question in one message.",
    "bot_identity_no_desk": "Yes, I'm a virtual assistant ({client_name}): I answer questions "
                            "about services, prices and booking.",
    "fallback_no_desk": "Sorry, I can't answer this question right now. Please call us or "
                        "write later.",
    "no_answer_no_desk": "Sorry, I don't have an exact answer to this question. Please call us "
                         "or ask in other words.",
    "media_received_no_desk": "Thanks, I got your attachment. Please write your question as "
                              "text.",
    "voice_received_no_desk": "Thanks! I can't listen to voice messages yet. Please write your "
                              "question as text.",
}

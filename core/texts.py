"""Every text the gateway writes: to customers (in Russian, Kazakh and English, chosen by the
conversation's language; per-client templates, client settings `templates`, override them) and
to managers at the desk."""

from __future__ import annotations

from typing import Any

from core.language import DEFAULT_LANGUAGE, ENGLISH, KAZAKH, RUSSIAN
from core.models import Client
from core.translations import ENGLISH_TEXTS, KAZAKH_TEXTS

CUSTOMER_DEFAULTS: dict[str, str] = {
    "escalated": "Передал ваш вопрос менеджеру, он скоро ответит.",
    # outside working hours; {when}: "завтра с 10:00" (core.hours_text)
    "escalated_closed": "Сейчас мы не работаем. Передал ваш вопрос менеджеру, он ответит {when}.",
    "no_desk": "К сожалению, сейчас не получится подключить менеджера в этом чате. Пожалуйста, "
               "позвоните нам или напишите позже, а пока я постараюсь помочь сам.",
    "pending_notice": "Менеджер скоро ответит, пожалуйста, подождите.",
    "pending_notice_closed": "Менеджер ответит {when}, пожалуйста, подождите.",
    "muted": "Хорошо, не буду беспокоить. Напишите, когда понадоблюсь.",
    "opt_out_pending": "Хорошо, отменил запрос менеджеру. Напишите, если понадоблюсь.",
    "greeting": "Здравствуйте! Это {client_name}, на связи виртуальный помощник. Чем могу помочь?",
    "thanks": "Пожалуйста! Обращайтесь, если будут вопросы.",
    "bot_identity": "Да, я виртуальный помощник ({client_name}): отвечаю на вопросы об услугах, "
                    "ценах и записи. Если нужен живой человек, напишите «менеджер».",
    "fallback": "Извините, не могу сейчас ответить на этот вопрос. Напишите «менеджер», и я "
                "передам его живому человеку.",
    "no_answer": "К сожалению, у меня нет точного ответа на этот вопрос. Напишите «менеджер», "
                 "и я передам его живому человеку.",
    "media_received": "Спасибо, получил ваше вложение. Напишите, пожалуйста, вопрос текстом "
                      "или «менеджер», чтобы связаться с человеком.",
    "delivery_apology": "Извините за задержку с ответом. Менеджер напишет вам в ближайшее время.",
    # after a manager resolved a request, when the client asks for ratings (core.rating)
    "rating_request": "Оцените, пожалуйста, помощь менеджера от 1 до 5 (просто отправьте цифру).",
    "rating_thanks": "Спасибо за оценку!",
    "voice_received": "Спасибо! Голосовые сообщения я пока не слушаю. Напишите, пожалуйста, "
                      "вопрос текстом или «менеджер», чтобы связаться с человеком.",
    # once per flood of messages (core.flood)
    "flood_notice": "Вы прислали много сообщений подряд: я всё сохранил, прочитаю по порядку и "
                    "отвечу. Пожалуйста, подождите немного; если можно, напишите вопрос одним "
                    "сообщением.",
    # A client (or branch) with no Telegram desk: the same texts without the offer of a person
    # that nobody would take ("позовите менеджера" gets `no_desk`).
    "bot_identity_no_desk": "Да, я виртуальный помощник ({client_name}): отвечаю на вопросы об "
                            "услугах, ценах и записи.",
    "fallback_no_desk": "Извините, не могу сейчас ответить на этот вопрос. Пожалуйста, позвоните "
                        "нам или напишите позже.",
    "no_answer_no_desk": "К сожалению, у меня нет точного ответа на этот вопрос. Пожалуйста, "
                         "позвоните нам или спросите иначе.",
    "media_received_no_desk": "Спасибо, получил ваше вложение. Напишите, пожалуйста, вопрос "
                              "текстом.",
    "voice_received_no_desk": "Спасибо! Голосовые сообщения я пока не слушаю. Напишите, "
                              "пожалуйста, вопрос текстом.",
}
NO_DESK = "_no_desk"  # the suffix of a text's form for a client with no desk
CUSTOMER_TEXTS: dict[str, dict[str, str]] = {
    RUSSIAN: CUSTOMER_DEFAULTS, KAZAKH: KAZAKH_TEXTS, ENGLISH: ENGLISH_TEXTS}
# Placeholders a template may use besides {client_name}.
PLACEHOLDERS: dict[str, tuple[str, ...]] = {"escalated_closed": ("when",),
                                            "pending_notice_closed": ("when",)}


def customer_text(client: Client, key: str, *, language: str | None = None, desk: bool = True,
                  **values: str) -> str:
    """The text `key` in the customer's language: the client's template for that language, else
    ours. Client templates come as {language: {key: text}}; the flat {key: text} form (from before
    languages) is the Russian one. Without a desk (`desk=False`), the key's `_no_desk` form
    where it has one; a client's own template of the plain key still goes before our `_no_desk`
    form (the client wrote it for its own set-up)."""
    language = language if language in CUSTOMER_TEXTS else DEFAULT_LANGUAGE
    keys = (key,) if desk or key + NO_DESK not in CUSTOMER_DEFAULTS else (key + NO_DESK, key)
    default = CUSTOMER_TEXTS[language].get(keys[0]) or CUSTOMER_DEFAULTS[keys[0]]
    template = next((own for k in keys
                     if (own := _client_template(client.settings.templates, language, k))),
                    None) or default
    try:
        return template.format(client_name=client.name, **values)
    except (KeyError, IndexError, ValueError):
        # A client's template with a bad placeholder must not silence the bot.
        return default.format(client_name=client.name, **values)


def _client_template(templates: dict[str, Any], language: str, key: str) -> str | None:
    own = templates.get(language)
    if isinstance(own, dict) and isinstance(own.get(key), str) and own[key].strip():
        return own[key]
    flat = templates.get(key)
    if language == DEFAULT_LANGUAGE and isinstance(flat, str) and flat.strip():
        return flat
    return None


def check_templates(templates: Any) -> dict[str, Any]:
    """A client's `templates`, validated (ValueError with the reason): known keys, non-empty
    texts, only the placeholders each text has."""
    if not isinstance(templates, dict):
        raise ValueError("templates must be an object: {key: text} or {language: {key: text}}")
    for key, value in templates.items():
        if key in CUSTOMER_TEXTS:
            if not isinstance(value, dict):
                raise ValueError(f"templates.{key} must be an object of texts")
            for inner, text in value.items():
                _check_template(f"templates.{key}.{inner}", inner, text)
        else:
            _check_template(f"templates.{key}", key, value)
    return templates


def _check_template(where: str, key: str, text: Any) -> None:
    if key not in CUSTOMER_DEFAULTS:
        raise ValueError(f"{where}: unknown text; known: {', '.join(CUSTOMER_DEFAULTS)} "
                         f"(or a language: {', '.join(CUSTOMER_TEXTS)})")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where} must be a non-empty text")
    allowed = ("client_name", *PLACEHOLDERS.get(key, ()))
    try:
        text.format(**dict.fromkeys(allowed, ""))
    except KeyError as exc:
        raise ValueError(f"{where}: unknown placeholder {{{exc.args[0]}}}; available: "
                         + ", ".join(f"{{{name}}}" for name in allowed)) from None
    except (IndexError, ValueError):
        raise ValueError(f"{where}: a brace that is not a placeholder must be doubled ({{{{ }}}})") from None


REASONS: dict[str, str] = {
    "human_request": "Клиент просит менеджера",
    "frustration": "Клиент недоволен",
    "payment": "Оплата",
    "booking_change": "Перенос или отмена записи",
    "medical": "Медицинский вопрос",
    "complaint": "Жалоба",
    "legal": "Юридический вопрос",
    "undelivered_reply": "Ответ бота не дошёл до клиента",
    "manual": "Менеджер взял диалог сам",
}


def reason_text(trigger_value: str | None) -> str:
    return REASONS.get(trigger_value or "", trigger_value or "Запрос менеджера")


# What decided an escalation (handover `trigger_detail`), as the card's "Почему: …" line.
WHY: dict[str, str] = {
    "rules": "правило «{matched}»",
    "semantic": "похоже на «{matched}» ({score:.2f})",
    "llm": "решила языковая модель",
}
WHY_LIMIT = 120


def why_text(detail: dict[str, Any] | None) -> str | None:
    """One short line, or None when nothing is recorded (older handovers, manual take-overs)."""
    template = WHY.get((detail or {}).get("source", ""))
    if template is None or detail is None:
        return None
    matched = str(detail.get("matched") or "")
    if len(matched) > 60:
        matched = matched[:59] + "…"
    try:
        line = template.format(matched=matched, score=float(detail.get("score") or 0))
    except (TypeError, ValueError):
        return None
    return line[:WHY_LIMIT]


# What the desk tells managers: toasts of button presses and notes in the customer's topic.
DESK: dict[str, str] = {
    "not_found": "Заявка не найдена",
    "conversation_not_found": "conversation not found",
    "no_open_handover": "the conversation has no open handover",
    "foreign": "Это заявка другого клиента",
    "already_taken": "Заявку уже взял {name}",
    "no_topic": "Карточка заявки ещё не доставлена в Telegram",
    "stale": "Заявка уже закрыта",
    "invalid_transition": "Это действие сейчас недоступно",
    "taken": "Заявка ваша",
    "taken_note": "{name} взял заявку",
    "resolved": "Заявка закрыта",
    "resolved_note": "✅ Решено ({name})",
    "returned": "Диалог возвращён боту",
    "returned_note": "↩️ Возвращено боту ({name})",
    "skipped": "Отмечено: не можете взять",
    "opted_out_note": "🚫 Клиент отказался от связи с менеджером",
    "opted_out_relay": "🚫 Клиент отказался от связи — сообщение не отправлено",
    "not_delivered": "❌ Не доставлено: {preview}",
    "file_not_delivered": "❌ Не доставлено: файл не удалось передать клиенту",
    "customer_fallback_name": "Клиент",
    "reminder_1": "⏰ Заявка ждёт {minutes} мин",
    "reminder_2": "🔴 Срочно: заявка ждёт {minutes} мин",
    "owner_mention": '<a href="tg://user?id={owner}">владелец</a>',
    "auto_closed_note": "⏱ Заявка закрыта автоматически: никто не взял за {minutes} мин",
    "healed_note": "🛠 Заявка закрыта автоматически: состояние диалога было нарушено и восстановлено",
    # reminders of a request that waited partly outside working hours count working time only
    "working_time": " рабочего времени (пришла {created})",
    "rating_note": "⭐ Оценка клиента: {score} из 5",
    # manual take-over, /find, /bot, /t, /stats
    "taken_over": "Диалог ваш: бот молчит до «Решено» или /bot",
    "taken_over_note": "🙋 {name} взял диалог: бот молчит до «Решено» или /bot",
    "conversation_gone": "Диалог не найден",
    "foreign_conversation": "Это клиент другого бота",
    "with_bot_already": "Диалог и так у бота",
    "not_a_customer_topic": "Эта команда работает в теме клиента",
    "find_usage": "Напишите: /find телефон или имя (от 2 букв или 3 цифр)",
    "find_none": "Никого не нашёл: «{query}»",
    "find_found": "🔎 Нашёл ({count}). Нажмите на клиента, чтобы открыть его тему с историей:",
    "find_line": "{number}. {who} — {state}",
    "state_bot_active": "отвечает бот",
    "state_pending": "ждёт менеджера",
    "state_manager_active": "у менеджера",
    "history_sent": "История отправлена в тему клиента",
    "history_title": "🗂 <b>История диалога</b> ({who})",
    "history_empty": "Сообщений пока нет",
    "history_take_hint": "Нажмите «Взять диалог», чтобы ответить самому: бот замолчит до «Решено».",
    "canned_usage": "/t ИМЯ отправляет клиенту шаблон. Есть: {names}",
    "canned_none": "Шаблонов ответов пока нет (их добавляет администратор: reply set)",
    "canned_unknown": "Нет шаблона «{name}». Есть: {names}",
    "canned_sent_note": "📨 Шаблон «{name}» отправлен клиенту",
    "stats_usage": "Напишите /stats, /stats today или /stats week",
    "transcript_line": "🎤 (голосовое, расшифровка) {text}",
    "report_fallback": "{owner}, отчёт не дошёл в личные сообщения: напишите боту /start.",
}

# The owner's report (`core.reports`), HTML.
REPORT: dict[str, str] = {
    "title": "📊 <b>{client}</b>: {period}",
    "today": "сегодня, {day}",
    "week": "7 дней, {first}–{last}",
    "daily": "сутки до {time}, {day}",
    "customers": "👥 Клиентов: {customers}, сообщений от них: {messages}",
    "bot": "🤖 Ответов бота: {answers}; без менеджера обошлись {alone} из {customers}",
    "escalated": "🙋 Передано менеджерам: {count}",
    "topic": "   • {topic}: {count}",
    "take_time": "⏱ Время до ответа менеджера: медиана {median}, худшее {worst} (заявок: {taken})",
    "resolutions": "✅ Закрыто: {closed}",
    "resolution_resolved_by_manager": "решено",
    "resolution_returned_to_bot": "возвращено боту",
    "resolution_customer_opt_out": "клиент отказался",
    "resolution_auto_closed": "закрыто автоматически",
    "resolution_healed": "восстановлено",
    "rating": "⭐ Оценка клиентов: {average} (ответов: {rated})",
    "all_resolved": "👌 Незакрытых заявок нет",
    "unresolved": "⏳ <b>Не закрыты: {count}</b>",
    "unresolved_line": "   • {who}: {reason}, {status}, ждёт {waited}",
    "status_pending": "никто не взял",
    "status_active": "у менеджера",
    "more": "   … и ещё {count}",
    "customer": "Клиент",
    "under_a_minute": "меньше минуты",
    "minutes": "{minutes} мин",
    "hours": "{hours} ч {minutes} мин",
}

# Operator and owner alerts (`core.alerts`): plain text to the operator's chat; the owner's copy
# is sent as HTML (escaped by the alerter).
ALERT: dict[str, str] = {
    "desk_unreachable": "🔴 {client}: Telegram-деск недоступен уже {minutes} мин. Заявки и "
                        "напоминания ждут и уйдут, когда связь вернётся.",
    "delivery_given_up": "🔴 {client}: сообщение ({channel}, {what}) не доставлено, попытки "
                         "прекращены.",
    "turn_failed": "🔴 {client}: сообщение клиента не удалось обработать; клиент получил "
                   "запасной ответ.",
    "backlog": "🟠 {client}: очередь входящих растёт: {count} сообщений ждут ответа.",
    "detail": "Подробности: {detail}",
    "repeated": "Повторялось с первого раза: {count}",
    "held": "(не доходило до этого чата с {since})",
    "no_client": "шлюз",
}

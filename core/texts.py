"""Every text the gateway writes: to customers (per-client templates, client settings
`templates`, with these Russian defaults) and to managers at the desk."""

from __future__ import annotations

from core.models import Client

CUSTOMER_DEFAULTS: dict[str, str] = {
    "escalated": "Передал ваш вопрос менеджеру, он скоро ответит.",
    "no_desk": "К сожалению, сейчас не получится подключить менеджера в этом чате. Пожалуйста, "
               "позвоните нам или напишите позже, а пока я постараюсь помочь сам.",
    "pending_notice": "Менеджер скоро ответит, пожалуйста, подождите.",
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
}


def customer_text(client: Client, key: str, **values: str) -> str:
    template = client.settings.templates.get(key) or CUSTOMER_DEFAULTS[key]
    try:
        return template.format(client_name=client.name, **values)
    except (KeyError, IndexError, ValueError):
        # A client's template with a bad placeholder must not silence the bot.
        return CUSTOMER_DEFAULTS[key].format(client_name=client.name, **values)


REASONS: dict[str, str] = {
    "human_request": "Клиент просит менеджера",
    "frustration": "Клиент недоволен",
    "payment": "Оплата",
    "booking_change": "Перенос или отмена записи",
    "medical": "Медицинский вопрос",
    "complaint": "Жалоба",
    "legal": "Юридический вопрос",
    "undelivered_reply": "Ответ бота не дошёл до клиента",
}


def reason_text(trigger_value: str | None) -> str:
    return REASONS.get(trigger_value or "", trigger_value or "Запрос менеджера")


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
}

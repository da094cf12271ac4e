"""What the desk shows in Telegram: the topic name, the request card, its buttons, mirrored
customer messages. Everything from customers is HTML-escaped (cards are sent as HTML)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from uuid import UUID

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from channels.telegram.callbacks import Learn, OpenHistory, Resolve, Return, Skip, Take, TakeOver
from core.customers import CustomerMatch
from core.models import Handover, HandoverStatus, HistoryLine, Role, State
from core.texts import DESK, reason_text, why_text

MESSAGE_LIMIT = 4096  # Telegram's limit for one message's text
TOPIC_NAME_LIMIT = 128
HISTORY_LINES = 5
TOPIC_HISTORY_LINES = 20  # what a manager sees of a customer found with /find
_QUOTE_CHARS = 1000
_HISTORY_CHARS = 300
_ROLE_MARKS = {Role.USER: "👤", Role.ASSISTANT: "🤖", Role.MANAGER: "🧑‍💼", Role.SYSTEM: "⚙️"}
CUSTOMER_PREFIX = "👤 Клиент: "


def display_phone(phone: str | None) -> str:
    if not phone:
        return "—"
    return f"+{phone}" if phone.isdigit() else phone


def topic_name(customer_name: str | None, phone: str | None) -> str:
    """"{customer name} · {phone}", 1–128 characters."""
    name = " ".join((customer_name or "").split()) or "Клиент"
    suffix = f" · {display_phone(phone)}"
    room = TOPIC_NAME_LIMIT - len(suffix)
    if len(name) > room:
        name = name[: max(room - 1, 1)] + "…"
    return (name + suffix)[:TOPIC_NAME_LIMIT]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card_text(handover: Handover, customer_name: str | None, phone: str | None,
              history: Sequence[HistoryLine]) -> str:
    lines = [
        "🔔 <b>Новая заявка</b>",
        f"<b>Причина:</b> {escape(reason_text(handover.trigger_value))}",
        *([f"<b>Почему:</b> {escape(why)}"] if (why := why_text(handover.trigger_detail)) else []),
        f"<b>Клиент:</b> {escape(customer_name or '—')}",
        f"<b>Телефон:</b> {escape(display_phone(phone))}",
    ]
    if handover.user_message:
        lines += ["", "<b>Сообщение:</b>", escape(_clip(handover.user_message, _QUOTE_CHARS))]
    if history:
        lines += ["", "<b>История:</b>"]
        lines += [f"{_ROLE_MARKS.get(h.role, '•')} {escape(_clip(h.content, _HISTORY_CHARS))}"
                  for h in history[-HISTORY_LINES:]]
    return "\n".join(lines)


def card_keyboard(handover_id: UUID, status: HandoverStatus) -> InlineKeyboardMarkup:
    """What can be done with a request: take, return or skip while pending; resolve once taken;
    nothing once closed."""
    if status == HandoverStatus.PENDING:
        rows = [[_button("Беру", Take(handover_id=handover_id)),
                 _button("Вернуть боту", Return(handover_id=handover_id))],
                [_button("Не могу", Skip(handover_id=handover_id))]]
    elif status == HandoverStatus.ACTIVE:
        rows = [[_button("Решено", Resolve(handover_id=handover_id))]]
    else:
        rows = []
    return InlineKeyboardMarkup(inline_keyboard=rows)


def learn_keyboard(handover_id: UUID) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[_button("📚 В базу", Learn(handover_id=handover_id))]])


def history_text(customer_name: str | None, phone: str | None,
                 history: Sequence[HistoryLine], state: State) -> str:
    """The customer's recent messages as one message (the oldest dropped when they would not
    fit), and what the manager can do next."""
    who = escape(" · ".join(filter(None, (customer_name, display_phone(phone)))))
    head = [DESK["history_title"].format(who=who)]
    tail = [DESK["history_take_hint"]] if state == State.BOT_ACTIVE else []
    lines = [f"{_ROLE_MARKS.get(h.role, '•')} {escape(_clip(h.content, _HISTORY_CHARS))}"
             for h in history] or [escape(DESK["history_empty"])]
    while len(lines) > 1 and len("\n".join([*head, *lines, *tail])) > MESSAGE_LIMIT:
        lines.pop(0)
    return "\n".join([*head, *lines, *tail])[:MESSAGE_LIMIT]


def take_over_keyboard(conversation_id: UUID) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        _button("Взять диалог", TakeOver(conversation_id=conversation_id))]])


def found_customers(matches: Sequence[CustomerMatch]) -> tuple[str, InlineKeyboardMarkup]:
    """`/find`'s answer: one line and one button per customer."""
    lines = [DESK["find_found"].format(count=len(matches))]
    rows = []
    for number, match in enumerate(matches, start=1):
        name = " ".join((match.name or "").split()) or DESK["customer_fallback_name"]
        lines.append(escape(DESK["find_line"].format(
            number=number, who=f"{name} · {display_phone(match.phone)}",
            state=DESK[f"state_{match.state.value}"])))
        rows.append([_button(_clip(f"{number}. {name}", 60),
                             OpenHistory(conversation_id=match.conversation_id))])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def _button(text: str, data: Take | Return | Skip | Resolve | Learn | TakeOver | OpenHistory
            ) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def learn_offer_text(question: str, answer: str, owner_ids: Sequence[int]) -> str:
    mentions = " ".join(f'<a href="tg://user?id={int(o)}">владелец</a>' for o in owner_ids)
    return "\n".join(filter(None, [
        "📚 Добавить ответ менеджера в базу знаний?",
        f"<b>Вопрос:</b> {escape(_clip(question, _QUOTE_CHARS))}",
        f"<b>Ответ:</b> {escape(_clip(answer, _QUOTE_CHARS * 2))}",
        mentions,
    ]))


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at line breaks where possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text or not pieces:
        pieces.append(text)
    return pieces


def escaped_pieces(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Plain text as HTML-escaped pieces that each fit one message. The text is cut before
    escaping, so that no piece ends inside an entity such as `&amp;`."""
    pieces: list[str] = []
    for piece in split_message(text, limit):
        escaped = escape(piece)
        if len(escaped) <= limit or len(piece) <= 1:
            pieces.append(escaped)
        else:
            pieces += escaped_pieces(piece, len(piece) // 2)
    return pieces


def mirror_messages(lines: Sequence[str]) -> list[str]:
    """A burst of customer messages as one topic message (more only past Telegram's limit)."""
    return escaped_pieces(CUSTOMER_PREFIX + "\n".join(lines))

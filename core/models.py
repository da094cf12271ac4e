"""Domain types: tenants, customers, conversations, handovers and the enumerations of PRODUCT.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


class State(StrEnum):
    BOT_ACTIVE = "bot_active"
    PENDING = "pending"
    MANAGER_ACTIVE = "manager_active"


class HandoverStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    RESOLVED = "resolved"


class TriggerType(StrEnum):
    INTENT = "intent"
    POLICY = "policy"
    KEYWORD = "keyword"
    MANUAL = "manual"
    LLM = "llm"
    SYSTEM = "system"


class Resolution(StrEnum):
    RESOLVED_BY_MANAGER = "resolved_by_manager"
    RETURNED_TO_BOT = "returned_to_bot"
    CUSTOMER_OPT_OUT = "customer_opt_out"
    AUTO_CLOSED = "auto_closed"
    HEALED = "healed"


class Intent(StrEnum):
    HUMAN_REQUEST = "human_request"
    FRUSTRATION = "frustration"
    REJECTION = "rejection"
    GREETING = "greeting"
    THANKS = "thanks"
    QUESTION = "question"
    OTHER = "other"


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    MANAGER = "manager"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class ClientSettings:
    telegram_bot_token: str | None = None
    telegram_chat_id: int | None = None
    telegram_webhook_secret: str | None = None
    owner_telegram_ids: tuple[int, ...] = ()
    chatflow_token: str | None = None
    chatflow_instance_id: str | None = None
    webhook_secret: str = ""
    reminder_timeout_1: int = 30
    reminder_timeout_2: int = 60
    auto_close_timeout: int | None = None
    mute_duration_first_minutes: int = 30
    mute_duration_second_hours: int = 24
    enable_reminders: bool = True
    enable_owner_escalation: bool = True
    debounce_seconds: float = 3.0
    timezone: str = "Asia/Almaty"
    # customer texts: {key: text} (Russian) and/or {language: {key: text}} (core.texts)
    templates: dict[str, Any] = field(default_factory=dict)
    escalation_policy: list[dict[str, Any]] | None = None
    working_hours: dict[str, Any] | None = None  # core.hours document; None: always open
    ask_rating: bool = False  # ask the customer to rate a manager's help after resolve
    policy_threshold_offset: float = 0.0
    # groups of names for one thing, added to knowledge search queries (core.synonyms)
    knowledge_synonyms: tuple[tuple[str, ...], ...] = ()
    daily_report_time: str | None = None  # "HH:MM" local: the owner's daily summary; None: off
    # the flood shield (core.flood); None: the process default
    flood_messages_per_minute: int | None = None
    max_turn_chars: int | None = None
    max_events_per_turn: int | None = None
    # days of message history kept (None: MESSAGE_RETENTION_DAYS; 0: for ever)
    message_retention_days: int | None = None


@dataclass(frozen=True, slots=True)
class Client:
    id: UUID
    slug: str
    name: str
    status: str
    settings: ClientSettings

    @property
    def suspended(self) -> bool:
        return self.status == "suspended"


@dataclass(frozen=True, slots=True)
class Branch:
    id: UUID
    client_id: UUID
    slug: str
    name: str
    instance_id: str | None
    phone: str | None
    telegram_chat_id: int | None
    knowledge_tag: str | None
    is_active: bool
    working_hours: dict[str, Any] | None = None  # overrides the client's (core.hours)


def has_desk(client: Client, branch: Branch | None) -> bool:
    """Whether requests of this client (or branch) can reach a person: a bot and a group."""
    chat = (branch.telegram_chat_id if branch else None) or client.settings.telegram_chat_id
    return bool(client.settings.telegram_bot_token and chat)


@dataclass(frozen=True, slots=True)
class Customer:
    id: UUID
    client_id: UUID
    remote_jid: str
    phone: str | None
    name: str | None


@dataclass(frozen=True, slots=True)
class Conversation:
    id: UUID
    client_id: UUID
    user_id: UUID
    branch_id: UUID | None
    channel: str
    state: State
    bot_muted_until: datetime | None
    no_count: int
    telegram_topic_id: int | None
    telegram_chat_id: int | None
    pending_notice_at: datetime | None
    last_message_at: datetime | None
    language: str | None = None  # "ru" | "kk" | "en": what the customer writes in (core.language)
    # the handover whose rating question awaits an answer, and until when (core.rating)
    rating_handover_id: UUID | None = None
    rating_due_until: datetime | None = None
    flood_notice_at: datetime | None = None  # the "please wait" note of this flood (core.flood)
    instance_id: str | None = None  # the provider number the customer last wrote on


@dataclass(frozen=True, slots=True)
class Handover:
    id: UUID
    conversation_id: UUID
    client_id: UUID
    status: HandoverStatus
    trigger_type: TriggerType
    trigger_value: str | None
    user_message: str | None
    assigned_to: int | None
    assigned_to_name: str | None
    skipped_by: tuple[int, ...]
    telegram_message_id: int | None
    manager_response: str | None
    resolution: Resolution | None
    created_at: datetime
    taken_at: datetime | None
    resolved_at: datetime | None
    reminder_1_sent_at: datetime | None
    reminder_2_sent_at: datetime | None
    rating: int | None = None  # the customer's 1–5 for a manager's help (core.rating)
    rating_asked_at: datetime | None = None
    rated_at: datetime | None = None
    # What decided the escalation: {"source": "rules" | "semantic" | "llm", "matched", "score"}.
    trigger_detail: dict[str, Any] | None = None

    @property
    def is_open(self) -> bool:
        return self.status != HandoverStatus.RESOLVED


@dataclass(frozen=True, slots=True)
class HistoryLine:
    role: Role
    content: str
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One customer message, from the channel adapter that parsed it to the pipeline that
    answers it (stored in between: see `core.inbound`)."""

    provider_message_id: str
    remote_jid: str
    text: str = ""
    message_type: str = "text"  # text | image | audio | ptt | document | video | sticker
    media: dict[str, Any] | None = None
    sender_name: str | None = None
    timestamp: int | None = None
    truncated: bool = False  # the text was cut to the channel's limit
    channel: str = "whatsapp"
    instance_id: str | None = None  # the provider number it came in on (branch routing)
    transcribed: bool = False  # `text` is the transcript of a voice note (`core.voice`)
    # set when the message is claimed from the inbox for a turn: its fencing token
    event_id: int | None = None
    attempt: int | None = None

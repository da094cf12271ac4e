"""Typed process settings: every variable of WIRE.md §5 (and a few operational knobs), from the
environment or `.env`, validated with one-line errors. The environment's names are flat (the
public contract); each adapter gets its own small settings object from the properties below."""

from __future__ import annotations

import os
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from ai.settings import (
    EmbeddingSettings,
    EmbeddingsProvider,
    LLMSettings,
    RerankProvider,
    RerankSettings,
    TranscriptionSettings,
)
from channels.chatflow.settings import ChatFlowSettings
from channels.telegram.ratelimit import RateLimits
from channels.telegram.settings import TelegramMode, TelegramSettings
from core.alerts import AlertPolicy
from core.flood import TurnLimits
from scheduler.settings import SchedulerSettings
from storage.settings import DatabaseSettings, VectorSettings


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


class SettingsError(Exception):
    """A bad configuration value, with a one-line human message."""


MAX_DEFAULT_WORKERS = 16
WORKERS_PER_CPU = 8


def default_workers() -> int:
    """WORKERS when unset: 8 per CPU this process may use, at most 16. A turn mostly waits (on
    PostgreSQL, the embedder, the LLM), so a core keeps several busy: on 2 cores draining a
    backlog with the bundled model went from 57-61 turns/s at 8 to 65-67 at 16, with instant
    fakes from 149-166 to 172-173, ingest p99 at c=64 no worse since a burst lingers
    (gateway/ingest_load.py; issue 10). Beyond 16 the database connections (WORKERS + 6 per
    process) cost more than they bring."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return min(MAX_DEFAULT_WORKERS, WORKERS_PER_CPU * cpus)


class Settings(BaseSettings):
    # An empty `VAR=` (common in env templates) means unset: it must never become an empty
    # admin token that matches an empty header, or an empty API key that turns the LLM on.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False,
        env_ignore_empty=True,
    )

    database_url: SecretStr | None = None
    data_dir: Path = Path("./.data")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    admin_token: SecretStr | None = None
    metrics_token: SecretStr | None = None  # set: GET /metrics needs `Authorization: Bearer`
    public_base_url: str | None = None

    telegram_mode: TelegramMode = TelegramMode.POLLING
    telegram_api_base: str = "https://api.telegram.org"

    chatflow_api_base: str = "https://app.chatflow.kz/api/v1"
    chatflow_token: SecretStr | None = None

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(15.0, gt=0, le=600)

    # voice notes: off without a model; key and base URL fall back to the LLM's, each on its own
    transcribe_base_url: str | None = None
    transcribe_api_key: SecretStr | None = None
    transcribe_timeout_seconds: float = Field(30.0, gt=0, le=600)
    transcribe_model: str | None = None  # after the others: its check reads them

    embeddings_provider: EmbeddingsProvider = EmbeddingsProvider.LOCAL
    embeddings_url: str | None = None
    embeddings_model: str | None = None
    rerank_provider: RerankProvider = RerankProvider.NONE
    rerank_url: str | None = None

    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    qdrant_collection: str = "truffles_knowledge"

    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.JSON

    # Not in WIRE.md §5, operational knobs with safe defaults.
    max_body_bytes: int = Field(1_048_576, ge=1024)
    knowledge_max_bytes: int = Field(20 * 1_048_576, ge=1024)  # a knowledge file upload
    workers: int = Field(default_factory=default_workers, ge=1, le=64)
    turn_lease_seconds: float = Field(15, ge=1, le=3600)
    reply_retry_minutes: float = Field(60, gt=0, le=7 * 24 * 60)
    database_start_timeout_seconds: float = Field(60, ge=0, le=3600)
    demo_seed: bool = True
    message_retention_days: int = Field(0, ge=0, le=36500)
    telegram_rescan_seconds: float = Field(15.0, gt=0, le=3600)
    telegram_poll_timeout: int = Field(25, ge=1, le=50)
    telegram_min_send_interval: float = Field(1.0, ge=0, le=60)
    telegram_sends_per_minute: int = Field(20, ge=1)
    # the flood shield's defaults (core.flood; a client's own settings override them)
    flood_messages_per_minute: int = Field(20, ge=1, le=600)
    max_turn_chars: int = Field(4000, ge=200, le=20_000)
    max_events_per_turn: int = Field(20, ge=1, le=100)

    # Operator and owner alerts (core.alerts), and the self-heal of requests without a card.
    alert_telegram_bot_token: SecretStr | None = None
    alert_telegram_chat_id: int | None = None
    alert_repeat_minutes: float = Field(60, gt=0, le=7 * 24 * 60)
    alert_max_per_hour: int = Field(20, ge=1, le=1000)
    alert_owners: bool = True
    alert_desk_unreachable_minutes: float = Field(5, gt=0, le=24 * 60)
    alert_backlog_threshold: int = Field(200, ge=1)
    heal_cardless_minutes: float = Field(5, gt=0, le=24 * 60)

    # Not from the environment: the unix socket on which another process serves the embedded
    # vector store (set in the secondaries of `serve --processes N`, `using_store_of_primary`).
    _store_socket: Path | None = PrivateAttr(default=None)

    @field_validator("database_url")
    @classmethod
    def _check_dsn(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError("must be a postgresql://user:password@host:port/dbname URL")
        if not parts.path.strip("/") and "host=" not in parts.query and not parts.hostname:
            raise ValueError("must name a host or a database")
        return value

    @field_validator(
        "telegram_api_base", "chatflow_api_base", "public_base_url", "openai_base_url",
        "embeddings_url", "qdrant_url", "rerank_url", "transcribe_base_url",
    )
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s):// URL")
        return value.rstrip("/")

    @field_validator("transcribe_model")
    @classmethod
    def _check_transcription(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        peer = ("transcribe_api_key", "transcribe_base_url", "openai_api_key", "openai_base_url")
        if all(info.data.get(name) is None for name in peer):
            raise ValueError("needs an endpoint: TRANSCRIBE_BASE_URL / TRANSCRIBE_API_KEY, or "
                             "the LLM's OPENAI_BASE_URL / OPENAI_API_KEY")
        return value.strip()

    @model_validator(mode="after")
    def _check_alert_chat(self) -> Settings:
        if (self.alert_telegram_chat_id is None) != (self.alert_telegram_bot_token is None):
            raise ValueError("ALERT_TELEGRAM_CHAT_ID and ALERT_TELEGRAM_BOT_TOKEN go together "
                             "(the operator's chat and the alerts' own bot)")
        return self

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    def using_store_of_primary(self, socket: Path) -> Settings:
        """These settings for a process that uses the embedded vector store the primary of
        `serve --processes N` serves on `socket` (`gateway/store_service.py`)."""
        settings = self.model_copy()
        settings._store_socket = socket
        return settings

    # --- what each adapter gets --------------------------------------------------------------

    @property
    def database(self) -> DatabaseSettings:
        return DatabaseSettings(url=self.database_url, data_dir=self.data_dir,
                                pool_size=max(10, self.workers + 6),
                                start_timeout_seconds=self.database_start_timeout_seconds)

    @property
    def vectors(self) -> VectorSettings:
        return VectorSettings(qdrant_url=self.qdrant_url, qdrant_api_key=self.qdrant_api_key,
                              collection=self.qdrant_collection, data_dir=self.data_dir,
                              keep_collection_name=self.embeddings_provider == EmbeddingsProvider.TEI,
                              served_at=self._store_socket)

    @property
    def embeddings(self) -> EmbeddingSettings:
        return EmbeddingSettings(provider=self.embeddings_provider, url=self.embeddings_url,
                                 model=self.embeddings_model, openai_api_key=self.openai_api_key,
                                 openai_base_url=self.openai_base_url)

    @property
    def rerank(self) -> RerankSettings:
        return RerankSettings(provider=self.rerank_provider, url=self.rerank_url)

    @property
    def llm(self) -> LLMSettings:
        return LLMSettings(api_key=self.openai_api_key, base_url=self.openai_base_url,
                           model=self.llm_model, timeout_seconds=self.llm_timeout_seconds)

    @property
    def transcription(self) -> TranscriptionSettings:
        return TranscriptionSettings(
            model=self.transcribe_model, api_key=self.transcribe_api_key or self.openai_api_key,
            base_url=self.transcribe_base_url or self.openai_base_url,
            timeout_seconds=self.transcribe_timeout_seconds)

    @property
    def chatflow(self) -> ChatFlowSettings:
        return ChatFlowSettings(api_base=self.chatflow_api_base, token=self.chatflow_token)

    @property
    def telegram(self) -> TelegramSettings:
        return TelegramSettings(
            mode=self.telegram_mode, api_base=self.telegram_api_base,
            public_base_url=self.public_base_url, data_dir=self.data_dir,
            rate_limits=RateLimits(min_interval=self.telegram_min_send_interval,
                                   per_minute=self.telegram_sends_per_minute),
            rescan_seconds=self.telegram_rescan_seconds, poll_timeout=self.telegram_poll_timeout)

    @property
    def turn_limits(self) -> TurnLimits:
        return TurnLimits(messages_per_minute=self.flood_messages_per_minute,
                          max_turn_chars=self.max_turn_chars,
                          max_events_per_turn=self.max_events_per_turn)

    @property
    def scheduler(self) -> SchedulerSettings:
        return SchedulerSettings(cardless_after_minutes=self.heal_cardless_minutes,
                                 message_retention_days=self.message_retention_days)

    @property
    def alert_policy(self) -> AlertPolicy:
        return AlertPolicy(repeat=timedelta(minutes=self.alert_repeat_minutes),
                           per_hour=self.alert_max_per_hour, owners=self.alert_owners)


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's report into one human line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]).upper() or "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"invalid configuration: {name}: {message}") from None

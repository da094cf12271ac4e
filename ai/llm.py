"""The LLM adapter: OpenAI Chat Completions through the `openai` SDK, any compatible base URL
(OpenAI, Azure, vLLM, Ollama, llama.cpp), with an explicit timeout and tenacity retries on
429 / 5xx / connection errors."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import openai
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from ai.openai_client import async_openai
from core.models import Intent
from core.policy import PolicyTopic
from core.result import Result

log = logging.getLogger(__name__)

CLASSIFY_TIMEOUT_SECONDS = 5.0


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError | openai.APITimeoutError | openai.RateLimitError):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


_CLASSIFY_PROMPT = """You classify one customer message sent to a business on WhatsApp.
Intents: human_request (asks for a person: manager, operator, administrator, a call back),
frustration (angry or unhappy, complaining, annoyed with the bot), rejection (asks the bot to
stop writing), greeting, thanks, question (anything the bot can answer: prices, hours, address,
services, a new booking), other. "Are you a bot?" is a question. A polite word ("пожалуйста")
or a compliment is never frustration. Messages may be Russian, Kazakh, English or mixed.
Topics that must reach a person (name: description; examples):
{topics}
Answer with JSON only: {{"intent": "<intent>", "topic": "<topic name or null>"}}"""
PROMPT_EXAMPLES = 6  # examples per topic in the prompt
_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)


def topics_listing(topics: Sequence[PolicyTopic]) -> str:
    lines = []
    for topic in topics:
        examples = "; ".join(f"«{e}»" for e in topic.examples[:PROMPT_EXAMPLES])
        lines.append(f"- {topic.name}: {topic.description or topic.name}"
                     + (f"; e.g. {examples}" if examples else ""))
    return "\n".join(lines) or "- none"


def parse_classification(raw: str, topic_names: set[str]) -> tuple[Intent, str | None]:
    """The model's answer, validated: one JSON object (alone, in a code fence or inside prose)
    with a known intent and a known topic or none; ValueError with the reason otherwise."""
    found = _JSON_OBJECT.search(raw)
    if found is None:
        raise ValueError(f"no JSON object in the answer: {raw[:80]!r}")
    try:
        document = json.loads(found.group(0))
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON: {exc.msg}") from None
    label = document.get("intent")
    if label not in {i.value for i in Intent}:
        raise ValueError(f"unknown intent {label!r}")
    topic = document.get("topic")
    if topic in (None, "", "null", "none"):
        return Intent(label), None
    if topic not in topic_names:
        raise ValueError(f"unknown topic {topic!r}")
    return Intent(label), topic


@dataclass(frozen=True, slots=True)
class LLMCall:
    """One completion as measured: what it was for ("answer", "classify"), its wall time
    (retries included), and the tokens the server reported (0 when it reported none)."""

    purpose: str
    seconds: float
    prompt_tokens: int
    completion_tokens: int
    ok: bool


class OpenAIChat:
    """`observer` is told of every completion (`LLMCall`): the composition root turns that
    into metrics. `waiting`: entered for as long as each call waits on the model (the turn
    loop starts another turn meanwhile)."""

    def __init__(self, *, api_key: str | None, base_url: str | None, model: str,
                 timeout: float, max_retries: int = 2,
                 observer: Callable[[LLMCall], None] | None = None,
                 waiting: Callable[[], AbstractContextManager[None]] = nullcontext) -> None:
        # The SDK's own retries are off: tenacity does them, so that the timeout bounds each try.
        self._client = async_openai(api_key=api_key, base_url=base_url, timeout=timeout,
                                    max_retries=0)
        self._model = model
        self._timeout = timeout
        self._max_retries = max_retries
        self._observer = observer
        self._waiting = waiting

    async def aclose(self) -> None:
        await self._client.close()

    async def probe(self) -> Result[None]:
        """A cheap reachability check for /ready (lists models; no tokens spent)."""
        try:
            await self._client.models.list(timeout=min(self._timeout, 3.0))
        except Exception as exc:
            return Result.failure("ai_unreachable", _describe(exc))
        return Result.success(None)

    async def _create(self, purpose: str, messages: list[dict[str, str]], *, timeout: float,
                      retries: int, **options: object) -> str:
        started = time.monotonic()
        usage: dict[str, Any] | None = None
        message: dict[str, Any] = {}
        content: object = None
        try:
            with self._waiting():
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(retries + 1),
                    wait=wait_exponential(multiplier=0.5, max=4),
                    retry=retry_if_exception(_retryable), reraise=True,
                ):
                    with attempt:
                        response = await self._client.post(
                            "/chat/completions", cast_to=object,
                            body={"model": self._model, "messages": messages, **options},
                            options={"timeout": timeout})
            usage, message = _completion(response)
            content = message.get("content")
        finally:
            self._observe(purpose, time.monotonic() - started, usage, bool(content))
        if not isinstance(content, str) or not content.strip():
            refusal = message.get("refusal")
            raise ValueError(f"the model refused: {str(refusal)[:80]}" if refusal
                             else "empty completion")
        return content.strip()

    def _observe(self, purpose: str, seconds: float, usage: dict[str, Any] | None,
                 ok: bool) -> None:
        if self._observer is None:
            return
        try:
            self._observer(LLMCall(
                purpose=purpose, seconds=seconds, ok=ok,
                prompt_tokens=int((usage or {}).get("prompt_tokens") or 0),
                completion_tokens=int((usage or {}).get("completion_tokens") or 0)))
        except Exception:  # a metrics hiccup must not fail an answer
            log.exception("llm observer failed")

    async def complete(self, messages: list[dict[str, str]], *, max_tokens: int = 500,
                       temperature: float = 0.3, purpose: str = "answer") -> Result[str]:
        try:
            return Result.success(await self._create(
                purpose, messages, timeout=self._timeout, retries=self._max_retries,
                max_tokens=max_tokens, temperature=temperature))
        except Exception as exc:
            log.warning("llm completion failed", extra={"error": _describe(exc)})
            return Result.failure("ai_error", _describe(exc))

    async def classify(self, text: str, topics: Sequence[PolicyTopic]
                       ) -> Result[tuple[Intent, str | None]]:
        """A short timeout and no retries: classification must not hold up the answer. Any
        failure (timeout, refusal, an answer that is not the JSON asked for) is a `classify_error`
        with the reason, and the caller's rules decide."""
        messages = [{"role": "system", "content": _CLASSIFY_PROMPT.format(topics=topics_listing(topics))},
                    {"role": "user", "content": text[:2000]}]
        try:
            raw = await self._create("classify", messages,
                                     timeout=min(self._timeout, CLASSIFY_TIMEOUT_SECONDS),
                                     retries=0, max_tokens=60, temperature=0)
            return Result.success(parse_classification(raw, {t.name for t in topics}))
        except Exception as exc:
            return Result.failure("classify_error", str(exc) if isinstance(exc, ValueError)
                                  else _describe(exc))


def _completion(response: object) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The usage and the first choice's message of a Chat Completions answer, read from its
    JSON as it came (the SDK's typed models cost more CPU than the rest of a request); an
    answer without them has an empty message."""
    if not isinstance(response, dict):
        return None, {}
    usage = response.get("usage")
    choices = response.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    return (usage if isinstance(usage, dict) else None,
            message if isinstance(message, dict) else {})


def _describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"{type(exc).__name__} (HTTP {exc.status_code})"
    return type(exc).__name__

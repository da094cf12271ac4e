"""The per-client escalation policy (PRODUCT.md §4): topics that must always reach a person.

A topic has a name, a description, phrases and stems (the rule layer: exact words, negation
aware) and example messages (the semantic layer, `core.semantic`: a message close enough to an
example is about the topic). The default topics live in `core.default_policy`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.default_policy import DEFAULT_TOPICS
from core.guards import negated
from core.matching import Hit, compile_patterns
from core.models import Intent
from core.once_cache import by_identity

# Topic names share the semantic layer's labels with the intents: those names are taken.
RESERVED_NAMES = frozenset({*(i.value for i in Intent), "bot_question"})
MAX_TOPICS = 30
MAX_EXAMPLES = 300  # per topic
MAX_TEXT = 300  # characters of one phrase, stem or example
_LISTS = ("phrases", "stems", "examples", "unless")


@dataclass(frozen=True, slots=True)
class PolicyTopic:
    name: str
    description: str
    phrases: tuple[str, ...]
    stems: tuple[str, ...]
    examples: tuple[str, ...] = ()
    # Stems that make the rules look away: "анализ на гормоны делаете?" asks about a service,
    # not for medical advice. Similarity to the examples still applies.
    unless: tuple[str, ...] = ()

    def hits(self, words: list[str], *, fuzzy: bool) -> list[Hit]:
        if self.unless and compile_patterns((), self.unless).hits(words, fuzzy=False):
            return []
        return compile_patterns(self.phrases, self.stems).hits(words, fuzzy=fuzzy)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "phrases": list(self.phrases), "stems": list(self.stems),
                "examples": list(self.examples), "unless": list(self.unless)}


def parse_policy(document: Any) -> list[PolicyTopic]:
    """Validate a policy document: a list of {name, description?, phrases?, stems?, examples?,
    unless?}."""
    if not isinstance(document, list):
        raise ValueError("the policy must be a list of topics")
    if len(document) > MAX_TOPICS:
        raise ValueError(f"the policy has {len(document)} topics; at most {MAX_TOPICS}")
    topics = []
    seen = set()
    for index, item in enumerate(document):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise ValueError(f"topic #{index + 1} needs a name")
        name = item["name"].strip()
        if name in seen:
            raise ValueError(f"topic {name!r} appears twice")
        if name in RESERVED_NAMES:
            raise ValueError(f"topic name {name!r} is taken by an intent; choose another")
        seen.add(name)
        unknown = set(item) - {"name", "description", *_LISTS}
        if unknown:
            raise ValueError(f"topic {name!r}: unknown keys {', '.join(sorted(unknown))} "
                             f"(known: name, description, {', '.join(_LISTS)})")
        lists = {key: _strings(name, key, item.get(key)) for key in _LISTS}
        if len(lists["examples"]) > MAX_EXAMPLES:
            raise ValueError(f"topic {name!r}: {len(lists['examples'])} examples; at most {MAX_EXAMPLES}")
        if not (lists["phrases"] or lists["stems"] or lists["examples"]):
            raise ValueError(f"topic {name!r} needs at least one phrase, stem or example")
        description = item.get("description") or ""
        if not isinstance(description, str):
            raise ValueError(f"topic {name!r}: description must be text")
        topics.append(PolicyTopic(name, description.strip(), lists["phrases"], lists["stems"],
                                  lists["examples"], lists["unless"]))
    return topics


def _strings(topic: str, key: str, values: Any) -> tuple[str, ...]:
    values = values or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"topic {topic!r}: {key} must be a list of strings")
    if too_long := next((v for v in values if len(v) > MAX_TEXT), None):
        raise ValueError(f"topic {topic!r}: {key} entry over {MAX_TEXT} characters: {too_long[:40]!r}…")
    return tuple(dict.fromkeys(v.strip() for v in values if v.strip()))


@dataclass(frozen=True, slots=True)
class PolicyRules:
    """What the rule layer found: the first topic named in the affirmative (policy order wins
    when several are), and the topics named only in the negative ("рассрочка не нужна")."""

    topic: PolicyTopic | None = None
    hit: Hit | None = None
    declined: frozenset[str] = frozenset()

    @property
    def matched(self) -> str | None:
        return self.hit.pattern if self.hit else None


def match_policy(topics: Sequence[PolicyTopic], words: list[str]) -> PolicyRules:
    """Exact matches of any topic first, then matches with a typo."""
    declined: set[str] = set()
    for fuzzy in (False, True):
        for topic in topics:
            hits = topic.hits(words, fuzzy=fuzzy)
            if affirmed := [h for h in hits if not negated(words, h)]:
                return PolicyRules(topic, affirmed[0], frozenset(declined - {topic.name}))
            if hits:
                declined.add(topic.name)
    return PolicyRules(declined=frozenset(declined))


DEFAULT_POLICY: list[PolicyTopic] = parse_policy(DEFAULT_TOPICS)


def effective_policy(configured: list[dict[str, Any]] | None) -> list[PolicyTopic]:
    """A client's own topics, or the default set for service businesses when it has none."""
    return DEFAULT_POLICY if configured is None else _parsed(configured)


@by_identity(256)
def _parsed(configured: list[dict[str, Any]]) -> list[PolicyTopic]:
    """A client's policy parsed once while its settings stay cached (~0.2 ms a turn otherwise)."""
    return parse_policy(configured)

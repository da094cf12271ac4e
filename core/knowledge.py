"""Knowledge ports and types shared by the pipeline and the knowledge adapters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.result import Result


@dataclass(frozen=True, slots=True)
class Passage:
    content: str
    doc_name: str
    source: str  # "document" | "learned"
    score: float
    knowledge_tag: str | None = None


class KnowledgeSearch(Protocol):
    """What the answer stage needs: passages of one tenant (and branch tag), best first."""

    async def search(
        self, client_slug: str, query: str, *, knowledge_tag: str | None = None, limit: int = 5
    ) -> Result[list[Passage]]: ...

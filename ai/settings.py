"""Settings of the AI adapters, handed in by the composition root (from OPENAI_*, LLM_*,
EMBEDDINGS_*)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, SecretStr


class EmbeddingsProvider(StrEnum):
    LOCAL = "local"
    TEI = "tei"
    OPENAI = "openai"


class LLMSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    api_key: SecretStr | None = None
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    timeout_seconds: float = 15.0

    @property
    def enabled(self) -> bool:
        """No key and no base URL means the no-LLM mode (PRODUCT.md §4)."""
        return self.api_key is not None or self.base_url is not None


class EmbeddingSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    provider: EmbeddingsProvider = EmbeddingsProvider.LOCAL
    url: str | None = None
    model: str | None = None
    # the OpenAI provider's credentials (the LLM's, unless EMBEDDINGS_URL names another server)
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None


class RerankProvider(StrEnum):
    NONE = "none"
    TEI = "tei"
    LLM = "llm"


class RerankSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    provider: RerankProvider = RerankProvider.NONE
    url: str | None = None  # the TEI cross-encoder server (RERANK_URL)


class TranscriptionSettings(BaseModel):
    """Speech to text for voice notes: off without a model. The key and base URL are the
    transcription's own when given, else the LLM's (the root decides)."""

    model_config = ConfigDict(frozen=True)

    model: str | None = None
    api_key: SecretStr | None = None
    base_url: str | None = None
    timeout_seconds: float = 30.0

    @property
    def enabled(self) -> bool:
        return self.model is not None

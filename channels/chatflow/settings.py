"""Settings of the ChatFlow adapter (CHATFLOW_API_BASE, CHATFLOW_TOKEN)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr


class ChatFlowSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    api_base: str = "https://app.chatflow.kz/api/v1"
    token: SecretStr | None = None  # the default token; a client's own overrides it

"""Settings of the storage adapters: the database (DATABASE_URL, or an embedded PostgreSQL under
DATA_DIR) and the vector store (QDRANT_*, or an embedded store under DATA_DIR)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    url: SecretStr | None = None
    data_dir: Path = Path("./.data")
    pool_size: int = 10
    # how long to keep trying to reach the database at start-up before giving up
    start_timeout_seconds: float = 60.0


class VectorSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    collection: str = "truffles_knowledge"
    data_dir: Path = Path("./.data")
    # the configured collection name as is (the TEI/BGE-M3 set-up that n8n's Knowledge Sync
    # wrote), not suffixed by the embedder's name
    keep_collection_name: bool = False
    # the embedded store another process owns and serves on this unix socket (the secondaries
    # of `serve --processes N`: storage/vectors/remote.py), instead of opening it here
    served_at: Path | None = None

"""Files a manager sends in a topic, kept under DATA_DIR/media and served to the WhatsApp
provider through signed, expiring links (`GET /media/{token}`): ChatFlow's media endpoints only
take a public URL. The signing key is a random secret made once per install, kept under DATA_DIR,
so links survive restarts and stay valid across replicas that share the data directory."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from pathlib import Path

LINK_LIFETIME_SECONDS = 24 * 3600
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{8,64}(\.[A-Za-z0-9]{1,8})?$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class MediaLinks:
    def __init__(self, data_dir: Path, *, lifetime: int = LINK_LIFETIME_SECONDS) -> None:
        self.directory = data_dir / "media"
        self._lifetime = lifetime
        self._key_path = data_dir / "media_link_secret"

    def _key(self) -> bytes:
        if not self._key_path.exists():
            self._key_path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self._key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_hex(32))
        return self._key_path.read_text().strip().encode()

    def new_path(self, suffix: str, owner: str | None = None) -> Path:
        """A fresh, unguessable file name for a download; `owner` (the client id's hex) starts
        it, so the client's files can be found to delete them (`delete_owned`)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        suffix = suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix or "") else ""
        prefix = f"{owner}-" if owner and re.fullmatch(r"[0-9a-f]{32}", owner) else ""
        return self.directory / f"{prefix}{secrets.token_urlsafe(18)}{suffix}"

    def delete_owned(self, owner: str) -> int:
        """Delete every file `new_path` named for `owner`."""
        if not re.fullmatch(r"[0-9a-f]{32}", owner) or not self.directory.is_dir():
            return 0
        removed = 0
        for path in self.directory.glob(f"{owner}-*"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    def delete_linked(self, urls: list[str]) -> int:
        """Delete the files these media links (`…/media/{token}`, expired or not) name."""
        removed = 0
        for url in urls:
            token = url.rstrip("/").rsplit("/media/", 1)[-1] if "/media/" in url else ""
            try:
                name = _unb64(token.partition(".")[0]).decode().split("|")[0]
            except (ValueError, UnicodeDecodeError):
                continue
            path = self.directory / name
            if _SAFE_NAME.match(name) and path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def token(self, path: Path, *, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + self._lifetime)
        body = _b64(f"{path.name}|{expires}".encode())
        return f"{body}.{self._sign(body)}"

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key(), body.encode(), hashlib.sha256).digest()[:18])

    def resolve(self, token: str, *, now: float | None = None) -> Path | None:
        """The file a token names, when the signature is right, it has not expired and the file
        is there; None otherwise."""
        body, _, signature = token.partition(".")
        if not body or not signature:
            return None
        try:  # bytes: compare_digest refuses a non-ASCII str (a percent-encoded Unicode token)
            given, expected = signature.encode(), self._sign(body).encode()
        except UnicodeEncodeError:  # lone surrogates: not a token of ours
            return None
        if not hmac.compare_digest(given, expected):
            return None
        try:
            name, expires = _unb64(body).decode().split("|")
            expired = int(expires) < (now if now is not None else time.time())
        except (ValueError, UnicodeDecodeError):
            return None
        if expired or not _SAFE_NAME.match(name):
            return None
        path = self.directory / name
        return path if path.is_file() else None

    def prune(self, *, now: float | None = None) -> int:
        """Delete files whose links have all expired."""
        if not self.directory.is_dir():
            return 0
        cutoff = (now if now is not None else time.time()) - self._lifetime
        removed = 0
        for path in self.directory.iterdir():
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

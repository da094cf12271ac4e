"""A small result type passed between pipeline stages instead of exceptions crossing them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Result(Generic[T]):
    ok: bool
    value: T | None = None
    error_code: str | None = None
    error: str | None = None

    @staticmethod
    def success(value: T) -> Result[T]:
        return Result(ok=True, value=value)

    @staticmethod
    def failure(code: str, error: str = "") -> Result[T]:
        return Result(ok=False, error_code=code, error=error)

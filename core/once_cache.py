"""A small in-memory cache of values that are costly to compute (example vectors, fitted
classifiers): each key computed at most once at a time (concurrent callers wait for the first
one's result; a failure is not cached), least recently used dropped first. The cache may be
shared by a whole process: a caller on another event loop (a CLI run in a thread) computes the
value itself rather than await a future of a loop it cannot wait on. `by_identity` is its small
synchronous cousin: a value derived from an object that comes back as the same object."""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")
A = TypeVar("A")


class OnceCache(Generic[T]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[Hashable, T] = OrderedDict()
        self._pending: dict[tuple[asyncio.AbstractEventLoop, Hashable], asyncio.Future[T]] = {}

    def peek(self, key: Hashable) -> T | None:
        """The value when it is computed already (nothing is computed or awaited)."""
        return self._values.get(key)

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        if key in self._values:
            self._values.move_to_end(key)
            return self._values[key]
        loop = asyncio.get_running_loop()
        pending = (loop, key)
        if pending in self._pending:
            return await asyncio.shield(self._pending[pending])
        future: asyncio.Future[T] = loop.create_future()
        self._pending[pending] = future
        try:
            value = await compute()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must log it
            raise
        finally:
            del self._pending[pending]
        future.set_result(value)
        self._values[key] = value
        while len(self._values) > self._size:
            self._values.popitem(last=False)
        return value


def by_identity(size: int) -> Callable[[Callable[[A], T]], Callable[[A], T]]:
    """Cache a function of one argument by the argument's identity, least recently used dropped
    first: for arguments that are costly to hash or cannot be hashed and come back as the same
    object turn after turn (a client's policy in its cached settings, the default policy). The
    argument must not be changed in place while it is cached; each entry holds it, so that its
    id is not another object's meanwhile."""
    def decorate(function: Callable[[A], T]) -> Callable[[A], T]:
        entries: OrderedDict[int, tuple[A, T]] = OrderedDict()

        @functools.wraps(function)
        def cached(argument: A) -> T:
            key = id(argument)
            entry = entries.get(key)
            if entry is not None and entry[0] is argument:
                entries.move_to_end(key)
                return entry[1]
            value = function(argument)
            entries[key] = (argument, value)
            while len(entries) > size:
                entries.popitem(last=False)
            return value
        return cached
    return decorate

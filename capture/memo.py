"""Small memos for rows read on every public request.

ProcessMemo (forms, blocklists, custom fields): each process keeps a value for `ttl` seconds;
a save or delete in this process clears it at once, and other processes (gunicorn workers,
other machines) see the edit within `ttl`. RequestMemo (the rule set's version): read once
per request, so every request sees the latest edit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

T = TypeVar("T")


class ProcessMemo(Generic[T]):
    def __init__(self, ttl: float = 30.0):
        self.ttl = ttl
        self._values: dict[Hashable, tuple[float, T]] = {}

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        now = time.monotonic()
        hit = self._values.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = load()
        self._values[key] = (now, value)
        return value

    def clear(self, **kwargs) -> None:  # also a signal receiver
        self._values.clear()


class RequestMemo:
    """Values read at most once per request (RequestMemoMiddleware opens the scope).

    For a row every step of one intake asks about (the rule set's version): the request reads
    it once, and the next request reads it afresh, so an edit is seen by every process at its
    next request. Outside a request (tasks, commands) every get() reads.
    """

    def __init__(self) -> None:
        self._scope: ContextVar[dict | None] = ContextVar("request_memo", default=None)

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        values = self._scope.get()
        if values is None:
            return load()
        if key not in values:
            values[key] = load()
        return values[key]

    def forget(self, key: Hashable) -> None:
        """A write in this request: the next get() reads the row again."""
        values = self._scope.get()
        if values is not None:
            values.pop(key, None)

    @contextmanager
    def scope(self) -> Iterator[None]:
        token = self._scope.set({})
        try:
            yield
        finally:
            self._scope.reset(token)


request_memo = RequestMemo()


class RequestMemoMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with request_memo.scope():
            return self.get_response(request)

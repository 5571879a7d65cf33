"""Small per-process memos for rows read on every public request (forms, blocklists).

Each process keeps a value for `ttl` seconds; a save or delete in this process clears it at
once, and other processes (gunicorn workers, other machines) see the edit within `ttl`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
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

"""Answers kept in memory: those that cannot change, and those of running runs briefly.

A complete run never changes, so its answers are kept already encoded
(``ResponseCache``, least recently used out); a running run's are reused for
a fraction of a second (``FreshCache``). One of each lives in the app's
``State``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    """An encoded answer of a complete run: its bytes, whether gzipped, its ETag."""

    body: bytes
    gzipped: bool
    etag: str

    @classmethod
    def of(cls, body: bytes, gzipped: bool) -> Answer:
        """The answer with its strong ETag, a digest of exactly these bytes."""
        return cls(body, gzipped, hashlib.blake2b(body, digest_size=16).hexdigest())


def _size(value: Any) -> int:
    return len(value if isinstance(value, bytes) else value.body)


class ResponseCache:
    """Encoded answers that cannot change (complete runs'; a site's quality until its next
    import), as plain bytes or objects with a ``body`` (``Answer``, ``front.Kept``), least
    recently used out."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.items: OrderedDict[tuple[int, str], Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[int, str]) -> Any:
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key: tuple[int, str], value: Any) -> None:
        if _size(value) > self.max_bytes // 8:
            return
        with self.lock:
            old = self.items.pop(key, None)
            self.size += _size(value) - (_size(old) if old is not None else 0)
            self.items[key] = value
            while self.size > self.max_bytes:
                _key, dropped = self.items.popitem(last=False)
                self.size -= _size(dropped)

    def drop_run(self, run_id: int) -> None:
        with self.lock:
            for key in [k for k in self.items if k[0] == run_id]:
                self.size -= _size(self.items.pop(key))


class FreshCache:
    """Answers about running runs, reused for a fraction of a second.

    Twenty dashboards asking for a live run's `now` at once then cost one
    computation per period instead of twenty; the state shown is at most
    ``seconds`` old (new arrivals reach clients through the stream anyway).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.items: dict[tuple[int, str], tuple[float, bytes]] = {}
        self.lock = threading.Lock()

    def get(self, key: tuple[int, str]) -> bytes | None:
        if self.seconds <= 0:
            return None
        with self.lock:
            item = self.items.get(key)
        if item is None or time.monotonic() - item[0] > self.seconds:
            return None
        return item[1]

    def put(self, key: tuple[int, str], body: bytes) -> None:
        if self.seconds <= 0:
            return
        now = time.monotonic()
        with self.lock:
            if len(self.items) > 1000:  # forget stale answers of runs nobody asks for
                self.items = {k: v for k, v in self.items.items() if now - v[0] <= self.seconds}
            self.items[key] = (now, body)

"""Slows down password guessing: failed logins of one username, a few per second at most.

In memory and per process (each API process counts its own), which is enough to make
guessing slow; it is not a lockout, and a correct password works again once it waits.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Failures allowed in a burst, and how many more each second earns back.
BURST = 5
PER_SECOND = 2.0
#: Usernames remembered at most; the ones that have earned their full burst back go first.
MAX_TRACKED = 100_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class LoginThrottle:
    def __init__(
        self,
        burst: int = BURST,
        per_second: float = PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.per_second = per_second
        self.clock = clock
        self._buckets: dict[bytes, _Bucket] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(username: str) -> bytes:
        # A digest, so that a megabyte-long username costs 32 bytes here.
        return hashlib.sha256(username.encode()).digest()

    def _refilled(self, key: bytes, now: float) -> _Bucket | None:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(
                self.burst, bucket.tokens + (now - bucket.updated) * self.per_second
            )
            bucket.updated = now
        return bucket

    def retry_after(self, username: str) -> int:
        """Seconds to wait before this username may try again; 0 when it may now."""
        with self._lock:
            bucket = self._refilled(self._key(username), self.clock())
            if bucket is None or bucket.tokens >= 1:
                return 0
            return max(1, math.ceil((1 - bucket.tokens) / self.per_second))

    def failed(self, username: str) -> None:
        now = self.clock()
        key = self._key(username)
        with self._lock:
            bucket = self._refilled(key, now)
            if bucket is None:
                if len(self._buckets) >= MAX_TRACKED:
                    self._forget_rested(now)
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = max(0.0, bucket.tokens - 1)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._buckets.pop(self._key(username), None)

    def _forget_rested(self, now: float) -> None:
        for key in list(self._buckets):
            if self._refilled(key, now).tokens >= self.burst:  # type: ignore[union-attr]
                del self._buckets[key]
        while len(self._buckets) >= MAX_TRACKED:  # all are busy: the oldest go
            del self._buckets[next(iter(self._buckets))]

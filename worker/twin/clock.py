"""Simulated time for twins.

A twin never reads the wall clock or calls ``asyncio.sleep`` itself: it is given a
:class:`Clock`. :class:`SystemClock` runs simulated time at ``speed`` times real
time; :class:`VirtualClock` only moves when a test calls :meth:`VirtualClock.advance`.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

#: Upper bound on the loop iterations one settle pass may spend, so a task that
#: reschedules itself forever (a busy loop around ``sleep(0)``) cannot hang a test.
_MAX_IDLE_SPINS = 10_000
#: Loop iterations used to settle on event loops that do not expose their ready queue.
_FALLBACK_SPINS = 64


class Clock(Protocol):
    speed: float

    def now(self) -> datetime:
        """Simulated time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Simulated seconds since an arbitrary origin; never goes back."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep for ``seconds`` of simulated time."""
        ...

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Cancellable:
        """Run ``callback`` on the running loop after ``seconds`` of simulated time
        (a timer without a task and a future: what a twin's periodic wake-up uses)."""
        ...


class Cancellable(Protocol):
    def cancel(self) -> None: ...


def _utc(when: datetime | None) -> datetime:
    if when is None:
        return datetime.now(UTC)
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


class SystemClock:
    """Simulated time = ``start`` + real elapsed time * ``speed``."""

    __slots__ = ("_mono0", "_start", "speed")

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        self.speed = float(speed)
        self._start = _utc(start)
        self._mono0 = time.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._mono0) * self.speed

    def now(self) -> datetime:
        """``monotonic()`` inlined: three clock readings a meter value, one call each less;
        ``timedelta(0, s)`` is ``timedelta(seconds=s)`` without parsing a keyword."""
        elapsed = (time.monotonic() - self._mono0) * self.speed
        return self._start + timedelta(0, elapsed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) / self.speed)

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Cancellable:
        delay = seconds / self.speed if seconds > 0.0 else 0.0  # max() is a call a wake-up
        return asyncio.get_running_loop().call_later(delay, callback)


class VirtualClock:
    """A clock that moves only when told to, for deterministic tests.

    Sleepers wait on futures kept in a heap ordered by due time (then by arrival).
    Cancelled sleepers are removed eagerly when the heap is mostly dead, and their
    entries are skipped otherwise, so nothing accumulates.
    """

    speed: float = 1.0

    def __init__(self, start: datetime | None = None) -> None:
        self.speed = 1.0
        self._start = _utc(start)
        self._elapsed = 0.0
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0
        self._cancelled = 0

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    @property
    def pending_sleepers(self) -> int:
        """How many sleepers are waiting (cancelled ones excluded)."""
        return sum(1 for _, _, fut in self._heap if not fut.done())

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._heap, (self._elapsed + seconds, self._seq, fut))
        try:
            await fut
        except asyncio.CancelledError:
            self._forget_cancelled()
            raise

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Cancellable:
        """A sleeper like the others (woken in the same order), whose wake-up runs
        ``callback`` instead of resuming a task."""
        loop = asyncio.get_running_loop()
        if seconds <= 0:
            return loop.call_soon(callback)
        fut: asyncio.Future[None] = loop.create_future()
        fut.add_done_callback(lambda done: None if done.cancelled() else callback())
        self._seq += 1
        heapq.heappush(self._heap, (self._elapsed + seconds, self._seq, fut))
        return _VirtualTimer(self, fut)

    def _forget_cancelled(self) -> None:
        self._cancelled += 1
        if self._cancelled * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if not entry[2].done()]
            heapq.heapify(self._heap)
            self._cancelled = 0

    async def advance(self, seconds: float, settle: float = 0.0) -> None:
        """Move time forward by ``seconds``, waking due sleepers in order.

        Sleepers due at the same instant are woken together. After each wake the
        loop runs until nothing is ready, then waits ``settle`` real seconds (for
        tasks doing real socket I/O) and runs until idle again.
        """
        if seconds < 0:
            raise ValueError(f"cannot advance by a negative duration ({seconds!r} s)")
        target = self._elapsed + seconds
        await _run_until_idle()
        while self._heap and self._heap[0][0] <= target:
            due = self._heap[0][0]
            self._elapsed = max(self._elapsed, due)
            woke = False
            while self._heap and self._heap[0][0] == due:
                _, _, fut = heapq.heappop(self._heap)
                if fut.done():
                    self._cancelled = max(self._cancelled - 1, 0)
                    continue
                fut.set_result(None)
                woke = True
            if woke:
                await _run_until_idle()
                if settle > 0:
                    await asyncio.sleep(settle)
                    await _run_until_idle()
        self._elapsed = target

    async def advance_to(self, when: datetime, settle: float = 0.0) -> None:
        """Advance until ``now() == when`` (no-op when ``when`` is not in the future)."""
        delta = (_utc(when) - self.now()).total_seconds()
        await self.advance(max(delta, 0.0), settle)


class _VirtualTimer:
    __slots__ = ("_clock", "_fut")

    def __init__(self, clock: VirtualClock, fut: asyncio.Future[None]) -> None:
        self._clock = clock
        self._fut = fut

    def cancel(self) -> None:
        if not self._fut.done():
            self._fut.cancel()
            self._clock._forget_cancelled()


async def _run_until_idle() -> None:
    """Yield to the event loop until no callback is ready to run.

    The default asyncio loop exposes its ready queue as ``_ready``; when it does
    not (uvloop), a fixed number of yields is used instead.
    """
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    if ready is None:
        for _ in range(_FALLBACK_SPINS):
            await asyncio.sleep(0)
        return
    idle_passes = 0
    for _ in range(_MAX_IDLE_SPINS):
        await asyncio.sleep(0)
        if ready:
            idle_passes = 0
        else:
            idle_passes += 1
            if idle_passes >= 2:
                return

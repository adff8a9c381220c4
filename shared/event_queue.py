"""A viewer's bounded queue of live events, for every server-sent event stream.

Events are put by whoever produces them (a twin host's loop, a CSMS) and never wait:
when the viewer reads too slowly and its queue is full, its newest events are left
out, and a ``dropped`` marker takes their place in the stream once it has room, so
the viewer knows how many it missed and where. The viewer may read on another loop.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

from shared.models.base import utcnow
from shared.schemas.event import DroppedEvent

T = TypeVar("T")

#: Events a viewer's queue holds before its newest events are dropped.
QUEUE_CAPACITY = 1_000


class EventQueue(Generic[T]):
    def __init__(self, capacity: int = QUEUE_CAPACITY) -> None:
        self.capacity = capacity
        self.closed = False
        self._events: deque[T | DroppedEvent] = deque()
        self._dropped = 0
        self._dropped_at = utcnow()
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()

    def put(self, event: T | DroppedEvent) -> None:
        if len(self._events) >= self.capacity:
            if not self._dropped:
                self._dropped_at = utcnow()
            self._dropped += 1
            return
        self._mark_dropped()
        self._events.append(event)
        self._signal()

    def close(self) -> None:
        self.closed = True
        self._signal()

    def _mark_dropped(self) -> None:
        if self._dropped:
            self._events.append(DroppedEvent(at=self._dropped_at, count=self._dropped))
            self._dropped = 0

    def _signal(self) -> None:
        try:
            same_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            same_loop = False
        if same_loop:
            self._wake.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def __aiter__(self) -> EventQueue[T]:
        return self

    async def __anext__(self) -> T | DroppedEvent:
        while not self._events:
            self._mark_dropped()
            if self._events:
                break
            if self.closed:
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()
        return self._events.popleft()

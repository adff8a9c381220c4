"""A server-sent events client for tests: reads a real HTTP stream as a browser would."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx


class EventStream:
    """The events of one open stream, parsed from the wire (``data:`` lines, ``:`` comments)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.comments: list[str] = []
        self.received: list[dict[str, Any]] = []
        self._lines = response.aiter_lines()

    async def next(self, timeout: float = 20.0) -> dict[str, Any]:
        data: list[str] = []
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                elif line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                elif not line and data:
                    event = json.loads("\n".join(data))
                    self.received.append(event)
                    return event
        raise AssertionError(f"the stream ended; received {self.received}")

    async def until(
        self, condition: Callable[[dict[str, Any]], bool], timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Read until an event meets ``condition``; answers the events read, that one last."""
        read: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                event = await self.next(max(remaining, 0.01))
            except TimeoutError:
                raise AssertionError(
                    f"no matching event within {timeout} s; read {read[-20:]}"
                ) from None
            read.append(event)
            if condition(event):
                return read


@contextlib.asynccontextmanager
async def open_stream(
    base_url: str,
    path: str,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> AsyncIterator[EventStream]:
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(30, read=None)) as client,
        client.stream("GET", path, headers=headers, params=params) as response,
    ):
        if response.status_code != 200:
            await response.aread()
            raise AssertionError(f"{path}: {response.status_code} {response.text}")
        assert response.headers["content-type"].startswith("text/event-stream")
        yield EventStream(response)


async def status_of(
    base_url: str, path: str, headers: dict[str, str] | None = None, **params: str
) -> httpx.Response:
    """The answer to a stream request that is expected to fail (read whole)."""
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=30) as client,
        client.stream("GET", path, headers=headers, params=params) as response,
    ):
        if response.status_code != 200:
            await response.aread()
        return response

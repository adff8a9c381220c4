"""The event loop `elu-twins up` runs on: uvloop when installed, asyncio's own otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's loop, which uvicorn[standard] brings (and which the bundled CSMSs already
    run on when started alone): the embedded process's event loop (the twins' timers,
    websockets and the APIs) costs about a third less CPU on it (benchmarks/README.md,
    "the event loop's cost"). asyncio's own loop where uvloop is not available."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run(main)`` on :func:`loop_factory`'s loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main)

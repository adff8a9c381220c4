"""Several uvicorn servers on one asyncio loop, stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any

import uvicorn
from fastapi import FastAPI

from elu_twins.log_labels import labelled


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to whoever runs the loop, and whose log
    lines say ``label``."""

    def __init__(self, config: uvicorn.Config, label: str) -> None:
        super().__init__(config)
        self.label = label

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


#: Seconds a stopping server lets open answers (live event streams) run before it ends them.
SHUTDOWN_GRACE = 3


def make_server(
    app: FastAPI,
    host: str,
    port: int,
    label: str,
    log_level: str = "info",
    tls: dict[str, Any] | None = None,
) -> QuietServer:
    """``tls``: uvicorn's ssl_* options (see ``CsmsTlsSettings.uvicorn_options``)."""
    # log_config=None: uvicorn's lines go to the root handlers, which label them.
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
        **(tls or {}),
    )
    return QuietServer(config, label)


def check_ports_free(servers: Iterable[QuietServer]) -> None:
    """Fail with a clear message before starting anything if a port is taken."""
    taken = []
    for server in servers:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((server.config.host, server.config.port))
            except OSError:
                taken.append(f"{server.config.host}:{server.config.port}")
    if taken:
        raise SystemExit(
            f"cannot listen on {', '.join(taken)}: already in use (is ELU Twins already running?)"
        )


async def serve_all(
    servers: Iterable[QuietServer],
    on_started: Callable[[], Awaitable[None]] | None = None,
    on_stopping: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM or until one server stops; ``on_started`` runs once all
    servers listen, ``on_stopping`` before they stop (the servers wait for their open
    websockets, so the twins connected to the bundled CSMSs must close first)."""
    servers = list(servers)
    check_ports_free(servers)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(server.serve(), context=labelled(server.label)) for server in servers
    ]
    stopper = asyncio.create_task(stop.wait())
    if on_started is not None:
        await _until_started(servers, tasks)
        await on_started()
    await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    if on_stopping is not None:
        await on_stopping()
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    stopper.cancel()


async def _until_started(servers: list[QuietServer], tasks: list[asyncio.Task[None]]) -> None:
    """uvicorn tells that a server listens by a flag, not an event: poll it."""
    while not all(server.started for server in servers):
        if any(task.done() for task in tasks):
            return
        await asyncio.sleep(0.05)

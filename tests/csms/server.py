"""Runs a CSMS app for real (uvicorn on a free port) and connects scripted charge points to it."""

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
import websockets
from fastapi import FastAPI

from shared.csms.certificates import mutual_tls_options
from shared.csms.state import CsmsState


@dataclass
class RunningCsms:
    state: CsmsState
    ws_url: str
    api: httpx.AsyncClient

    async def messages(self, charge_point_id: str, **params: Any) -> dict[str, Any]:
        response = await self.api.get(
            f"/api/charge-points/{charge_point_id}/messages", params=params
        )
        response.raise_for_status()
        return response.json()


@contextlib.asynccontextmanager
async def serve(
    app: FastAPI,
    tls: tuple[str, str] | None = None,
    port: int = 0,
    *,
    client_ca: str | None = None,
    api_verify: ssl.SSLContext | None = None,
) -> AsyncIterator[RunningCsms]:
    """Serve ``app`` on ``port`` (default: a free one); with ``tls`` (certificate file, key
    file) as wss/https; with ``client_ca`` too, requiring client certificates signed by it
    (mutual TLS), and the API client then uses ``api_verify`` (its TLS context)."""
    ssl_options: dict[str, Any] = (
        {} if tls is None else {"ssl_certfile": tls[0], "ssl_keyfile": tls[1]}
    )
    if client_ca is not None:
        ssl_options |= mutual_tls_options(client_ca)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **ssl_options)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    scheme, host = ("ws", "127.0.0.1") if tls is None else ("wss", "localhost")
    http = "http" if tls is None else "https"
    try:
        async with httpx.AsyncClient(
            base_url=f"{http}://{host}:{port}",
            verify=api_verify
            or (True if tls is None else ssl.create_default_context(cafile=tls[0])),
        ) as api:
            yield RunningCsms(app.state.csms, f"{scheme}://{host}:{port}", api)
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def connected(
    charge_point_class: type,
    url: str,
    charge_point_id: str,
    subprotocol: str,
    **connect_options: Any,
) -> AsyncIterator[Any]:
    """A scripted charge point (an `ocpp` library ChargePoint) serving its connection."""
    async with websockets.connect(
        f"{url}/{charge_point_id}", subprotocols=[subprotocol], **connect_options
    ) as connection:
        charge_point = charge_point_class(charge_point_id, connection, response_timeout=5)
        task = asyncio.create_task(charge_point.start())
        try:
            yield charge_point
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task


async def eventually(condition: Any, timeout: float = 2.0) -> None:
    """Wait until `condition()` is true: the CSMS records some things after it answers."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - polls state the app owns
            await asyncio.sleep(0.01)

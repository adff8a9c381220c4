"""The public API: what a user does, with a bearer token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from public_api.routes import (
    actions,
    app_tokens,
    charge_points,
    events,
    fleets,
    login,
    transactions,
    users,
    vehicles,
)
from shared.db import make_engine
from shared.errors import install_error_handlers
from shared.login_throttle import LoginThrottle
from shared.openapi import document_errors
from shared.request_limits import install_request_limits
from shared.settings import Settings, get_settings
from worker.commands import CommandBus
from worker.fleet.manager import FleetManager
from worker.live import EventSource

DESCRIPTION = """
Create virtual charge points and vehicles, connect them to an OCPP 1.6 or 2.0.1
CSMS, and drive charging sessions.

Get a token with `POST /token` (username and password of a user an operator
created), then send it as `Authorization: Bearer <token>`.

A live dashboard of your charge points runs in the browser at [/ui](/ui/).
"""

#: The dashboard: static files the browser runs as they are, no build step.
UI_DIRECTORY = Path(__file__).parent / "ui"


def _lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Actions are plain functions run in worker threads, and each waits for its
        # twin (up to the caller's timeout) while holding one. anyio's default of 40
        # threads would let 40 slow CSMSs stall every other request.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, settings.api_threads)
        app.state.fleets.attach(asyncio.get_running_loop())
        try:
            yield
        finally:
            await app.state.fleets.close()

    return lifespan


def _document_settings(app: FastAPI, settings: Settings) -> None:
    """Limits that come from settings, in the OpenAPI schema as the API enforces them."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        components = schema["components"]["schemas"]
        expiry = components["AppTokenCreate"]["properties"]["expiry_in_days"]
        expiry["maximum"] = settings.app_token_max_days
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    command_bus: CommandBus | None = None,
    event_source: EventSource | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    assert settings.database_url is not None
    app = FastAPI(
        title="ELU Twins — public API",
        version="0.2.0",
        description=DESCRIPTION,
        lifespan=_lifespan(settings),
    )
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.database_url)
    app.state.command_bus = command_bus
    app.state.events = event_source
    app.state.login_throttle = LoginThrottle()
    app.state.fleets = FleetManager(app.state.engine, command_bus)
    install_error_handlers(app)
    install_request_limits(app, settings.max_request_bytes, settings.max_bulk_request_bytes)
    for module in (
        login,
        users,
        app_tokens,
        vehicles,
        charge_points,
        actions,
        transactions,
        events,
        fleets,
    ):
        app.include_router(module.router)
    app.mount("/ui", StaticFiles(directory=UI_DIRECTORY, html=True), name="ui")
    _document_settings(app, settings)
    document_errors(app, "no valid bearer token (missing, expired, revoked)")
    return app

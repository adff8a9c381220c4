"""The public API: what a user does, with a bearer token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy import Engine

from public_api.routes import (
    actions,
    app_tokens,
    charge_points,
    fleets,
    login,
    transactions,
    users,
    vehicles,
)
from shared.db import make_engine
from shared.errors import install_error_handlers
from shared.login_throttle import LoginThrottle
from shared.request_limits import install_request_limits
from shared.settings import Settings, get_settings
from worker.commands import CommandBus
from worker.fleet.manager import FleetManager

DESCRIPTION = """
Create virtual charge points and vehicles, connect them to an OCPP 1.6 or 2.0.1
CSMS, and drive charging sessions.

Get a token with `POST /token` (username and password of a user an operator
created), then send it as `Authorization: Bearer <token>`.
"""


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


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    command_bus: CommandBus | None = None,
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
        fleets,
    ):
        app.include_router(module.router)
    return app

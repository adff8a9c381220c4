"""Dependencies both APIs share: the app's settings and a database session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from shared.db import session_for
from shared.settings import Settings
from worker.commands import CommandBus


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_db(request: Request) -> AsyncIterator[Session]:
    """A session for the request. Opening one does no I/O, so it is made on the event loop;
    closing it gives its connection back (a rollback): that is done in a worker thread, as
    the route's own queries are. Each sync dependency costs a thread hand-off per request
    (a sync generator two): with the twins on the same loop, those hand-offs were most of
    a simple read's CPU (benchmarks/README.md)."""
    session = session_for(request.app.state.engine)
    try:
        yield session
    finally:
        await run_in_threadpool(session.close)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_db)]


async def get_optional_command_bus(request: Request) -> CommandBus | None:
    """The bus to the twin hosts, when this process has one (None: no host reachable)."""
    return getattr(request.app.state, "command_bus", None)


OptionalCommandBusDep = Annotated[CommandBus | None, Depends(get_optional_command_bus)]

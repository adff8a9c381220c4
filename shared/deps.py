"""Dependencies both APIs share: the app's settings and a database session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from shared.db import session_for
from shared.settings import Settings
from worker.commands import CommandBus


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    with session_for(request.app.state.engine) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_db)]


def get_optional_command_bus(request: Request) -> CommandBus | None:
    """The bus to the twin hosts, when this process has one (None: no host reachable)."""
    return getattr(request.app.state, "command_bus", None)


OptionalCommandBusDep = Annotated[CommandBus | None, Depends(get_optional_command_bus)]

"""Typed dependencies of the public API: a route signature reads like a sentence."""

from __future__ import annotations

import uuid
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from shared.deps import SessionDep, SettingsDep
from shared.models import AppToken, User
from shared.models.base import utcnow
from shared.security import decode_token
from worker.commands import CommandBus

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/token")


TokenDep = Annotated[str, Depends(oauth2_scheme)]


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=reason,
        headers={"WWW-Authenticate": "Bearer"},
    )


def get_current_user(session: SessionDep, settings: SettingsDep, token: TokenDep) -> User:
    assert settings.secret_key is not None
    try:
        claims = decode_token(settings.secret_key, token)
        user_id = uuid.UUID(claims["sub"])
        app_token_id = uuid.UUID(claims["jti"]) if claims.get("typ") == "app" else None
    except jwt.ExpiredSignatureError as error:
        raise _unauthorized("token expired") from error
    except (jwt.InvalidTokenError, KeyError, ValueError) as error:
        raise _unauthorized("invalid token") from error
    if app_token_id is not None:
        app_token = session.get(AppToken, app_token_id)
        if app_token is None or app_token.user_id != user_id:
            raise _unauthorized("app token revoked")
        if app_token.expires_at <= utcnow():
            raise _unauthorized("app token expired")
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise _unauthorized("user not found or deactivated")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_command_bus(request: Request) -> CommandBus:
    bus = getattr(request.app.state, "command_bus", None)
    if bus is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "no twin host is running: start ELU Twins with `elu-twins up` (or start a worker)",
        )
    return bus


def get_optional_command_bus(request: Request) -> CommandBus | None:
    return getattr(request.app.state, "command_bus", None)


CommandBusDep = Annotated[CommandBus, Depends(get_command_bus)]
OptionalCommandBusDep = Annotated[CommandBus | None, Depends(get_optional_command_bus)]

__all__ = [
    "CommandBusDep",
    "CurrentUser",
    "OptionalCommandBusDep",
    "SessionDep",
    "SettingsDep",
]

"""Typed dependencies of the public API: a route signature reads like a sentence."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from shared.deps import SessionDep, SettingsDep
from shared.models import AppToken, User
from shared.models.base import utcnow
from shared.security import TOKEN_KINDS, TokenKind, decode_token
from worker.commands import CommandBus

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/token")


TokenDep = Annotated[str, Depends(oauth2_scheme)]


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=reason,
        headers={"WWW-Authenticate": "Bearer"},
    )


@dataclass(frozen=True)
class TokenClaims:
    """Who a valid bearer token speaks for, and which kind of token it is."""

    user_id: uuid.UUID
    kind: TokenKind
    app_token_id: uuid.UUID | None


async def get_token_claims(settings: SettingsDep, token: TokenDep) -> TokenClaims:
    """Pure computation (an HMAC), so it runs on the loop: no thread hand-off."""
    assert settings.secret_key is not None
    try:
        claims = decode_token(settings.secret_key, token)
        user_id = uuid.UUID(claims["sub"])
        kind = claims["typ"]
        if kind not in TOKEN_KINDS:
            raise ValueError(f"unknown token kind {kind!r}")
        app_token_id = uuid.UUID(claims["jti"]) if kind == "app" else None
    except jwt.ExpiredSignatureError as error:
        raise _unauthorized("token expired") from error
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError) as error:
        raise _unauthorized("invalid token") from error
    return TokenClaims(user_id, kind, app_token_id)


TokenClaimsDep = Annotated[TokenClaims, Depends(get_token_claims)]


def get_current_user(session: SessionDep, claims: TokenClaimsDep) -> User:
    if claims.app_token_id is not None:
        app_token = session.get(AppToken, claims.app_token_id)
        if app_token is None or app_token.user_id != claims.user_id:
            raise _unauthorized("app token revoked")
        if app_token.expires_at <= utcnow():
            raise _unauthorized("app token expired")
    user = session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise _unauthorized("user not found or deactivated")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_command_bus(request: Request) -> CommandBus:
    bus = getattr(request.app.state, "command_bus", None)
    if bus is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "no twin host is running: start ELU Twins with `elu-twins up` (or start a worker)",
        )
    return bus


async def get_optional_command_bus(request: Request) -> CommandBus | None:
    return getattr(request.app.state, "command_bus", None)


CommandBusDep = Annotated[CommandBus, Depends(get_command_bus)]
OptionalCommandBusDep = Annotated[CommandBus | None, Depends(get_optional_command_bus)]

__all__ = [
    "CommandBusDep",
    "CurrentUser",
    "OptionalCommandBusDep",
    "SessionDep",
    "SettingsDep",
    "TokenClaimsDep",
]

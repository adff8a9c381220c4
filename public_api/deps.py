"""Typed dependencies of the public API: a route signature reads like a sentence."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, TypeVar

import jwt
from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.orm import Session

from shared.db import session_for
from shared.deps import OptionalCommandBusDep, SessionDep, SettingsDep
from shared.models import AppToken, User
from shared.models.base import utcnow
from shared.security import TOKEN_KINDS, TokenKind, decode_token
from shared.settings import Settings
from worker.commands import CommandBus
from worker.live import EventSource

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/token")

T = TypeVar("T")


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
    return token_claims(settings, token)


def token_claims(settings: Settings, token: str) -> TokenClaims:
    """Who the token speaks for; 401 when it is invalid or expired."""
    assert settings.secret_key is not None
    claims, expires_at = _verified(settings.secret_key, token)
    if expires_at <= time.time():
        raise _unauthorized("token expired")
    return claims


@lru_cache(maxsize=4096)
def _verified(secret_key: str, token: str) -> tuple[TokenClaims, float]:
    """The claims of a token whose signature and claims were found valid, and when it
    expires. Kept per token, as the signature of a token once checked stays good: the
    HMAC and the parsing were ~6 % of a simple read. Its expiry is the caller's to check
    on every use (as PyJWT does: expired when ``exp`` <= now), and revocation is checked
    in the database on every request (:func:`user_of`). Refused tokens are not kept."""
    try:
        claims = decode_token(secret_key, token)
        user_id = uuid.UUID(claims["sub"])
        kind = claims["typ"]
        if kind not in TOKEN_KINDS:
            raise ValueError(f"unknown token kind {kind!r}")
        app_token_id = uuid.UUID(claims["jti"]) if kind == "app" else None
    except jwt.ExpiredSignatureError as error:
        raise _unauthorized("token expired") from error
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError) as error:
        raise _unauthorized("invalid token") from error
    return TokenClaims(user_id, kind, app_token_id), float(claims["exp"])


TokenClaimsDep = Annotated[TokenClaims, Depends(get_token_claims)]


def get_current_user(session: SessionDep, claims: TokenClaimsDep) -> User:
    return user_of(session, claims)


#: Every request runs these: built once, as SQLAlchemy computes the cache key of a
#: statement each time one is built (``session.get`` builds one), which costs about as
#: much as running it on SQLite.
_APP_TOKEN_BY_ID = select(AppToken).where(AppToken.id == bindparam("id"))
_USER_BY_ID = select(User).where(User.id == bindparam("id"))


def user_of(session: Session, claims: TokenClaims) -> User:
    """The active user a valid token speaks for; 401 when revoked, expired or deactivated.
    Always asked of the database, so that a revocation takes effect at the next request."""
    if claims.app_token_id is not None:
        app_token = session.execute(
            _APP_TOKEN_BY_ID, {"id": claims.app_token_id}
        ).scalar_one_or_none()
        if app_token is None or app_token.user_id != claims.user_id:
            raise _unauthorized("app token revoked")
        if app_token.expires_at <= utcnow():
            raise _unauthorized("app token expired")
    user = session.execute(_USER_BY_ID, {"id": claims.user_id}).scalar_one_or_none()
    if user is None or not user.is_active:
        raise _unauthorized("user not found or deactivated")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


#: A read's user checked through Core rows, not ORM objects (SQLAlchemy's ORM loading was
#: about half of each lookup: a prebuilt Core select by id 43 µs against 83 µs); the same
#: checks as :func:`user_of`.
_users = User.__table__
_app_tokens = AppToken.__table__
_USER_ACTIVE = select(_users.c.id, _users.c.is_active).where(_users.c.id == bindparam("id"))
_APP_TOKEN_OWNER = select(_app_tokens.c.user_id, _app_tokens.c.expires_at).where(
    _app_tokens.c.id == bindparam("id")
)


@dataclass(frozen=True, slots=True)
class Reader:
    """Whom a read is for: the id of the active user the token speaks for (the owner a
    row must have)."""

    id: uuid.UUID


def reader_of(connection: Connection, claims: TokenClaims) -> Reader:
    """:func:`user_of` without loading the user: 401 when the app token is revoked or
    expired or the user is gone or deactivated, asked of the database every time."""
    if claims.app_token_id is not None:
        app_token = connection.execute(_APP_TOKEN_OWNER, {"id": claims.app_token_id}).first()
        if app_token is None or app_token.user_id != claims.user_id:
            raise _unauthorized("app token revoked")
        if app_token.expires_at <= utcnow():
            raise _unauthorized("app token expired")
    user = connection.execute(_USER_ACTIVE, {"id": claims.user_id}).first()
    if user is None or not user.is_active:
        raise _unauthorized("user not found or deactivated")
    return Reader(user.id)


@dataclass(frozen=True)
class UserRead:
    """A read's database work done in one call: the token's user (checked as
    :func:`get_current_user` does, on every request), then ``read(connection, reader)``,
    on a connection of its own that is closed when it returns (Core rows only: a
    connection costs less to open and close than a :class:`Session`).

    ``SessionDep`` and ``CurrentUser`` cost a worker-thread hand-off each, the sync
    route one more and its response's validation another: four per request, which
    were most of a simple read's CPU (benchmarks/README.md, "Reads"). This is one on
    a database server, where a query waits for the network, and none on SQLite: its
    reads wait for no lock (WAL) and no network, so they are CPU work, which holds
    the GIL, and the event loop, in a worker thread as much as on the loop itself.
    """

    engine: Engine
    claims: TokenClaims

    async def __call__(self, read: Callable[[Connection, Reader], T]) -> T:
        if self.engine.dialect.name == "sqlite":
            return self._run(read)
        return await run_in_threadpool(self._run, read)

    def _run(self, read: Callable[[Connection, Reader], T]) -> T:
        with self.engine.connect() as connection:
            return read(connection, reader_of(connection, self.claims))


class BearerUserRead(OAuth2PasswordBearer):
    """The bearer token's :class:`UserRead`, as one dependency: FastAPI's solving of each
    nested dependency (here the token scheme) costs more than what it does. Being the
    token scheme itself, it shows in the OpenAPI document as ``oauth2_scheme`` does."""

    async def __call__(self, request: Request) -> UserRead:  # type: ignore[override]
        token = await super().__call__(request)
        assert token is not None  # auto_error: no token is a 401 already
        return UserRead(request.app.state.engine, token_claims(request.app.state.settings, token))


get_user_read = BearerUserRead(tokenUrl="/token", scheme_name="OAuth2PasswordBearer")

ReadAsUser = Annotated[UserRead, Depends(get_user_read)]


optional_oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/token", auto_error=False)


def get_stream_user(
    request: Request,
    settings: SettingsDep,
    bearer: Annotated[str | None, Depends(optional_oauth2_scheme)],
    token: Annotated[
        str | None,
        Query(description="The bearer token, for clients that cannot send headers (EventSource)"),
    ] = None,
) -> User:
    """The user of a long-lived stream: the bearer token from the header or ``?token=``.

    Reads the database in a session of its own, closed before the stream begins, so
    that a viewer does not hold a database connection for as long as it watches.
    """
    credential = bearer or token
    if not credential:
        raise _unauthorized("not authenticated: send a bearer token or ?token=")
    claims = token_claims(settings, credential)
    with session_for(request.app.state.engine) as session:
        return user_of(session, claims)


StreamUser = Annotated[User, Depends(get_stream_user)]


def get_event_source(request: Request) -> EventSource:
    source = getattr(request.app.state, "events", None)
    if source is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "live events are not available: this API runs without a twin host or Redis",
        )
    return source


EventSourceDep = Annotated[EventSource, Depends(get_event_source)]


async def get_command_bus(request: Request) -> CommandBus:
    bus = getattr(request.app.state, "command_bus", None)
    if bus is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "no twin host is running: start ELU Twins with `elu-twins up` (or start a worker)",
        )
    return bus


CommandBusDep = Annotated[CommandBus, Depends(get_command_bus)]

__all__ = [
    "CommandBusDep",
    "CurrentUser",
    "EventSourceDep",
    "OptionalCommandBusDep",
    "ReadAsUser",
    "SessionDep",
    "SettingsDep",
    "StreamUser",
    "TokenClaimsDep",
]

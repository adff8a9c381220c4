"""Password hashing (Argon2 via pwdlib) and signed tokens (PyJWT)."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Literal, get_args

import jwt
from pwdlib import PasswordHash

ALGORITHM = "HS256"
TokenKind = Literal["access", "app"]
TOKEN_KINDS: frozenset[str] = frozenset(get_args(TokenKind))

password_hash = PasswordHash.recommended()


def hash_password(password: str) -> str:
    return password_hash.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    return password_hash.verify(password, hashed)


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def verify_dummy_password(password: str) -> bool:
    """Costs what ``verify_password`` costs, for a username that does not exist: the answer
    must not come sooner than for a wrong password (which would tell who has an account)."""
    password_hash.verify(password, _dummy_hash())
    return False


def create_token(
    secret_key: str,
    subject: uuid.UUID,
    expires_in: timedelta,
    kind: TokenKind = "access",
    token_id: uuid.UUID | None = None,
) -> str:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": str(subject), "iat": now, "exp": now + expires_in, "typ": kind}
    if token_id is not None:
        claims["jti"] = str(token_id)
    return jwt.encode(claims, secret_key, algorithm=ALGORITHM)


def decode_token(secret_key: str, token: str) -> dict[str, Any]:
    """The token's claims; raises ``jwt.InvalidTokenError`` when forged, malformed or expired."""
    return jwt.decode(
        token, secret_key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
    )

from __future__ import annotations

import uuid
from datetime import timedelta

import jwt
import pytest

from shared.security import create_token, decode_token, hash_password, verify_password

SECRET = "a-secret-key-long-enough-for-hmac-sha256"


def test_passwords_are_hashed_with_argon2_and_verified() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2")
    assert verify_password("correct horse", hashed)
    assert not verify_password("wrong horse", hashed)


def test_token_round_trip_and_expiry() -> None:
    user_id = uuid.uuid4()
    claims = decode_token(SECRET, create_token(SECRET, user_id, timedelta(minutes=5)))
    assert claims["sub"] == str(user_id)
    assert claims["typ"] == "access"
    expired = create_token(SECRET, user_id, timedelta(seconds=-1))
    with pytest.raises(jwt.ExpiredSignatureError):
        decode_token(SECRET, expired)


def test_token_signed_with_another_key_is_refused() -> None:
    token = create_token("another-secret-key-that-is-long-enough!!", uuid.uuid4(), timedelta(1))
    with pytest.raises(jwt.InvalidSignatureError):
        decode_token(SECRET, token)

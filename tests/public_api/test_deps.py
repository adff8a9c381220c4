"""The bearer token's checks, as every request runs them."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from fastapi import HTTPException

from public_api.deps import token_claims
from shared.security import create_token
from shared.settings import Settings

SETTINGS = Settings(secret_key="test-secret-key-that-is-long-enough-for-hs256")


def test_a_token_used_before_is_refused_once_it_expires() -> None:
    """A token's checked signature is kept between requests; its expiry is not."""
    user_id = uuid.uuid4()
    token = create_token(SETTINGS.secret_key or "", user_id, timedelta(seconds=2))
    assert token_claims(SETTINGS, token).user_id == user_id
    assert token_claims(SETTINGS, token).user_id == user_id
    time.sleep(2.1)
    with pytest.raises(HTTPException) as refused:
        token_claims(SETTINGS, token)
    assert refused.value.status_code == 401
    assert refused.value.detail == "token expired"


def test_a_token_signed_with_another_key_is_refused_after_a_good_one() -> None:
    token = create_token(SETTINGS.secret_key or "", uuid.uuid4(), timedelta(minutes=5))
    assert token_claims(SETTINGS, token).kind == "access"
    other = Settings(secret_key="another-secret-key-that-is-long-enough-for-hs256")
    with pytest.raises(HTTPException) as refused:
        token_claims(other, token)
    assert refused.value.detail == "invalid token"

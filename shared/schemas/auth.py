from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.schemas.common import ORMModel, RequestBody, Text


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class LoginForm(BaseModel):
    """The OAuth2 password form of ``/token``; the other OAuth2 fields (``grant_type``,
    ``scope``, client credentials) are accepted and not used."""

    model_config = ConfigDict(extra="ignore")

    username: Text = Field(max_length=256)
    password: Text = Field(max_length=256)


class AppTokenCreate(RequestBody):
    name: str = Field(min_length=1, max_length=100)
    expiry_in_days: int = Field(default=30, ge=1, description="at most ELU_APP_TOKEN_MAX_DAYS")


class AppTokenPublic(ORMModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    expires_at: datetime


class AppTokenCreated(AppTokenPublic):
    """Only this answer carries the token itself; it cannot be read again."""

    access_token: str
    token_type: str = "bearer"

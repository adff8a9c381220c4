from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from shared.schemas.common import Boolean, ORMModel, PartialUpdate, RequestBody


class UserCreate(RequestBody):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@+-]+$")
    password: str = Field(min_length=8, max_length=128)
    max_charge_points: int | None = Field(default=None, ge=0)
    max_vehicles: int | None = Field(default=None, ge=0)


class QuotaUpdate(PartialUpdate):
    max_charge_points: int | None = Field(default=None, ge=0)
    max_vehicles: int | None = Field(default=None, ge=0)


class QuotaPublic(ORMModel):
    id: uuid.UUID
    max_charge_points: int
    max_vehicles: int


class UserPublic(ORMModel):
    id: uuid.UUID
    username: str
    is_active: bool
    created_at: datetime
    updated_at: datetime
    quota: QuotaPublic


class UserUpdate(PartialUpdate):
    is_active: Boolean | None = None
    password: str | None = Field(default=None, min_length=8, max_length=128)

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.models.base import Base, Timestamps, UuidPrimaryKey, utcnow


class User(UuidPrimaryKey, Timestamps, Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    hashed_password: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)

    quota: Mapped[Quota] = relationship(back_populates="user", cascade="all, delete-orphan")


class Quota(UuidPrimaryKey, Timestamps, Base):
    """How much a user may create; set by an operator through the private API."""

    __tablename__ = "quotas"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    max_charge_points: Mapped[int]
    max_vehicles: Mapped[int]

    user: Mapped[User] = relationship(back_populates="quota")


class AppToken(UuidPrimaryKey, Base):
    """A long-lived bearer token for scripts. Deleting the row revokes the token."""

    __tablename__ = "app_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, Timestamps, UuidPrimaryKey


class Command(UuidPrimaryKey, Timestamps, Base):
    """An action addressed to one twin: durable until a host has answered it.

    ``status``: pending → running → succeeded | failed | timed_out.
    A host that takes a twin over picks up its pending commands.
    """

    __tablename__ = "commands"
    __table_args__ = (Index("ix_commands_charge_point_id_status", "charge_point_id", "status"),)

    charge_point_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("charge_points.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    timeout_seconds: Mapped[float]
    result: Mapped[dict[str, Any] | None]
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(String(1000))
    host: Mapped[str | None] = mapped_column(String(255))
    finished_at: Mapped[datetime | None]


class TwinHost(Base):
    """A process that hosts twins (the embedded process, or a Celery worker)."""

    __tablename__ = "twin_hosts"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]

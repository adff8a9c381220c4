from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
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
    """A process that hosts twins (the embedded process, or a Celery worker).

    Its lease on all the twins it holds lasts until ``lease_expires_at``; it renews
    it with each heartbeat. Once the lease has run out, other hosts may take its
    twins over (and the host itself stops talking to their CSMS before that).
    ``status``: running, or draining while it hands its twins over on shutdown.
    """

    __tablename__ = "twin_hosts"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    pid: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default="running", server_default="running")
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    lease_expires_at: Mapped[datetime | None]


class TwinState(Base):
    """The twin's resumable state (see ``ChargePointTwin.save_state``), saved as it changes.

    Written only by the host holding the twin's lease with ``lease_token``: a write
    with an older token is refused, so a host that lost the twin cannot overwrite
    what its new host saves. The twin was last known alive at ``saved_at`` or at
    the last heartbeat of the host that saved it (``saved_by``), whichever is later.
    """

    __tablename__ = "twin_states"

    charge_point_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("charge_points.id", ondelete="CASCADE"), primary_key=True
    )
    lease_token: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[dict[str, Any]]
    saved_at: Mapped[datetime]
    saved_by: Mapped[str] = mapped_column(String(255))

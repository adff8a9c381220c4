from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, BigId


class MessageLogEntry(Base):
    """One OCPP-J frame a twin sent (to the CSMS) or received (from it)."""

    __tablename__ = "message_log"
    __table_args__ = (Index("ix_message_log_charge_point_id_id", "charge_point_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("charge_points.id", ondelete="CASCADE")
    )
    timestamp: Mapped[datetime]
    direction: Mapped[str] = mapped_column(String(8))
    message_type: Mapped[str] = mapped_column(String(10))
    unique_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[Any] = mapped_column(JSON)

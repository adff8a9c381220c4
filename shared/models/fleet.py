from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, Timestamps, UuidPrimaryKey


class Fleet(UuidPrimaryKey, Timestamps, Base):
    """Charge points and vehicles created together from a template, and the session scenario
    they run. ``charge_point_ids`` / ``vehicle_ids`` are in fleet order (index 0 first);
    ``counts`` is the last snapshot of the runner's figures (a FleetCounts)."""

    __tablename__ = "fleets"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="creating")
    specification: Mapped[dict[str, Any]]
    charge_point_ids: Mapped[list[Any]]
    vehicle_ids: Mapped[list[Any]]
    counts: Mapped[dict[str, Any]]
    latency_histograms: Mapped[dict[str, Any]]
    arrivals: Mapped[list[Any]]
    started_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]
    #: Set by an API process that does not run the fleet; the one that does stops it.
    stop_requested_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)

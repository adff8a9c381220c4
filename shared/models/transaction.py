from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, BigId, Timestamps, UuidPrimaryKey


class Transaction(UuidPrimaryKey, Timestamps, Base):
    """A charging session. ``transactionid`` is the CSMS's id, ``energy`` kWh so far."""

    __tablename__ = "transactions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    charge_point_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("charge_points.id", ondelete="CASCADE"), index=True
    )
    evse_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("evses.id", ondelete="SET NULL"))
    connector_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("connectors.id", ondelete="SET NULL")
    )
    vehicle_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("vehicles.id", ondelete="SET NULL")
    )
    id_tag: Mapped[str | None] = mapped_column(String(36))
    transactionid: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(32))
    start_time: Mapped[datetime]
    end_time: Mapped[datetime | None]
    energy: Mapped[float] = mapped_column(default=0.0)
    meter_start: Mapped[int] = mapped_column(default=0)
    meter_stop: Mapped[int | None]
    stop_reason: Mapped[str | None] = mapped_column(String(32))


class MeterSample(Base):
    """One set of sampled meter values of a connector, as sent to the CSMS."""

    __tablename__ = "meter_samples"
    __table_args__ = (Index("ix_meter_samples_transaction_time", "transaction_id", "timestamp"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("charge_points.id", ondelete="CASCADE"), index=True
    )
    connector_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"))
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("transactions.id", ondelete="CASCADE")
    )
    timestamp: Mapped[datetime]
    context: Mapped[str] = mapped_column(String(32), default="Sample.Periodic")
    energy_wh: Mapped[float]
    power_w: Mapped[float]
    current_a: Mapped[float]
    voltage_v: Mapped[float]
    soc: Mapped[float | None]

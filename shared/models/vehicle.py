from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, Timestamps, UuidPrimaryKey


class Vehicle(UuidPrimaryKey, Timestamps, Base):
    """An electric vehicle: battery, state of charge and charging curves.

    ``ac_charging_curve`` / ``dc_charging_curve`` are lists of [soc %, kW]
    points; ``None`` means the realistic default for the vehicle's rate. A
    ``bidirectional`` vehicle gives energy back (V2X, OCPP 2.1 setpoints) at up to
    ``maximum_discharge_power`` kW, down to ``minimum_soc`` %.
    """

    __tablename__ = "vehicles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    id_tag_suffix: Mapped[str] = mapped_column(String(10), unique=True)
    battery_capacity: Mapped[float]
    maximum_dc_charging_rate: Mapped[float]
    maximum_ac_charging_rate: Mapped[float]
    soc: Mapped[float]
    status: Mapped[str] = mapped_column(String(32), default="ready-to-charge")
    ac_charging_curve: Mapped[list[Any] | None]
    dc_charging_curve: Mapped[list[Any] | None]
    bidirectional: Mapped[bool] = mapped_column(default=False, server_default=false())
    maximum_discharge_power: Mapped[float] = mapped_column(default=0.0, server_default="0")
    minimum_soc: Mapped[float] = mapped_column(default=0.0, server_default="0")
    connector_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("connectors.id", ondelete="SET NULL"), index=True
    )
    transaction_id: Mapped[uuid.UUID | None]

    @property
    def id_tag(self) -> str:
        """The id tag the vehicle presents (RFID card / Plug & Charge contract)."""
        return f"ELU{self.id_tag_suffix}"

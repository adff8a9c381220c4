from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.models.base import Base, Timestamps, UuidPrimaryKey


class ChargePoint(UuidPrimaryKey, Timestamps, Base):
    """A charge point twin as stored: identity, limits, CSMS connection and live state.

    ``desired_state`` is what the user asked for (connected or disconnected), so
    a host that starts, or takes the twin over, knows whether to run it;
    ``status`` and ``connected`` are what the twin last reported.

    ``host`` names the twin host that holds the twin, for as long as that host's
    lease (:class:`TwinHost`) lasts; ``lease_token`` is the fencing token, raised
    each time the twin changes hands, so that a host that lost it can write
    nothing more for it.
    """

    __tablename__ = "charge_points"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    quota_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("quotas.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100))
    cid: Mapped[str] = mapped_column(String(48), unique=True)
    vendor: Mapped[str] = mapped_column(String(20))
    model: Mapped[str] = mapped_column(String(20))
    serial_number: Mapped[str | None] = mapped_column(String(25))
    firmware_version: Mapped[str] = mapped_column(String(50))
    password: Mapped[str | None] = mapped_column(String(64))
    #: Security profile 3: the TLS client certificate (PEM) and its private key (PEM,
    #: never shown by the API).
    client_certificate: Mapped[str | None] = mapped_column(Text)
    client_key: Mapped[str | None] = mapped_column(Text)
    csms_url: Mapped[str] = mapped_column(String(512))
    ocpp_protocol: Mapped[str] = mapped_column(String(16))
    boot_reason: Mapped[str | None] = mapped_column(String(32))
    voltage_ac: Mapped[float]
    voltage_dc: Mapped[float]
    phases: Mapped[int] = mapped_column(default=3, server_default="3")
    maximum_dc_power: Mapped[float]
    maximum_ac_power: Mapped[float]
    speed_factor: Mapped[float] = mapped_column(default=1.0)
    #: Whether the twin logs its OCPP frames (message_log rows, live frame streams).
    message_log: Mapped[bool] = mapped_column(default=True, server_default=true())
    status: Mapped[str] = mapped_column(String(32), default="Unavailable")
    connected: Mapped[bool] = mapped_column(default=False)
    desired_state: Mapped[str] = mapped_column(String(16), default="disconnected")
    host: Mapped[str | None] = mapped_column(String(255), index=True)
    lease_token: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    charge_point_task_id: Mapped[str | None] = mapped_column(String(255))
    last_heartbeat: Mapped[datetime | None]
    token_cost_per_minute: Mapped[int] = mapped_column(default=2)

    evses: Mapped[list[Evse]] = relationship(
        back_populates="charge_point",
        cascade="all, delete-orphan",
        order_by="Evse.evseid",
        passive_deletes=True,
    )
    configuration: Mapped[OcppConfiguration] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def ocpp_configuration_id(self) -> uuid.UUID:
        return self.configuration.id

    @property
    def ocpp_configuration(self) -> dict[str, Any]:
        return self.configuration.values


class OcppConfiguration(UuidPrimaryKey, Timestamps, Base):
    """Values the CSMS (or the user) changed from the protocol's defaults.

    OCPP 1.6: configuration keys (``{"HeartbeatInterval": "300"}``).
    OCPP 2.0.1: device model variables keyed ``Component[.instance]/Variable[.instance]``.
    The defaults, mutability and validation live with the twin's protocol adapter.
    """

    __tablename__ = "ocpp_configurations"

    charge_point_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("charge_points.id", ondelete="CASCADE"), unique=True
    )
    protocol: Mapped[str] = mapped_column(String(16))
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Evse(UuidPrimaryKey, Timestamps, Base):
    __tablename__ = "evses"
    __table_args__ = (UniqueConstraint("charge_point_id", "evseid"),)

    charge_point_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("charge_points.id", ondelete="CASCADE"), index=True
    )
    evseid: Mapped[int]
    status: Mapped[str] = mapped_column(String(32), default="Unavailable")
    active_connector_id: Mapped[uuid.UUID | None]

    charge_point: Mapped[ChargePoint] = relationship(back_populates="evses")
    connectors: Mapped[list[Connector]] = relationship(
        back_populates="evse",
        cascade="all, delete-orphan",
        order_by="Connector.connectorid",
        passive_deletes=True,
    )


class Connector(UuidPrimaryKey, Timestamps, Base):
    """A connector and its live values, as last reported by the twin.

    ``connectorid`` is numbered across the charge point (OCPP 1.6 connectorId);
    within its EVSE (OCPP 2.0.1) it is its position in ``evse.connectors``.
    ``current_energy`` is the running session's energy, ``total_energy`` the
    energy register (kWh). ``transactionid`` is the CSMS's transaction id,
    ``transaction_id`` ours.
    """

    __tablename__ = "connectors"
    __table_args__ = (UniqueConstraint("charge_point_id", "connectorid"),)

    evse_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("evses.id", ondelete="CASCADE"), index=True
    )
    charge_point_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("charge_points.id", ondelete="CASCADE"), index=True
    )
    connectorid: Mapped[int]
    connector_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), default="Unavailable")
    error_code: Mapped[str | None] = mapped_column(String(50))
    current_dc_power: Mapped[float] = mapped_column(default=0.0)
    current_dc_current: Mapped[float] = mapped_column(default=0.0)
    current_dc_voltage: Mapped[float] = mapped_column(default=0.0)
    current_ac_power: Mapped[float] = mapped_column(default=0.0)
    current_ac_current: Mapped[float] = mapped_column(default=0.0)
    current_ac_voltage: Mapped[float] = mapped_column(default=0.0)
    current_energy: Mapped[float] = mapped_column(default=0.0)
    total_energy: Mapped[float] = mapped_column(default=0.0)
    soc: Mapped[float | None]
    id_tag: Mapped[str | None] = mapped_column(String(36))
    transactionid: Mapped[str | None] = mapped_column(String(36))
    queued_action: Mapped[list[Any]] = mapped_column(default=list)
    transaction_id: Mapped[uuid.UUID | None]
    vehicle_id: Mapped[uuid.UUID | None]
    measured_at: Mapped[datetime | None]
    """When (real time) the twin measured the live values above; reads of a charging
    connector carry them on from there (see worker.readings)."""

    evse: Mapped[Evse] = relationship(back_populates="connectors")
    charge_point: Mapped[ChargePoint] = relationship(viewonly=False)

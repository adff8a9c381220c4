"""What a twin tells the outside world.

A twin reports every change through an :class:`EventSink` it is given. The
host persists the events (in batches) and streams them to live viewers; tests
collect them in a list. Events are plain slotted dataclasses so that they are
cheap to create (a twin makes five for each meter value it sends: 0.8 µs to build a
ConnectorChanged, against 2.8 µs frozen) and can be serialised for a remote host.
Nobody changes an event once it is made: they compare and hash by value, as frozen
ones did.

Identifiers: connectors are named by their charge-point-wide ``connector_id``
(see :class:`worker.twin.config.ConnectorConfig`); a transaction by the
``transaction_ref`` the twin gives it when it starts (a UUID string, which the
API uses as the transaction's id) and, once the CSMS has answered, by the
CSMS's own ``csms_transaction_id``; a vehicle by the opaque ``vehicle_ref`` it
was plugged in with (the database id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

Direction = Literal["sent", "received"]
MessageType = Literal["CALL", "CALLRESULT", "CALLERROR"]


@dataclass(slots=True, unsafe_hash=True)
class FrameLogged:
    """One OCPP-J frame on the wire. ``sent`` is twin → CSMS."""

    charge_point_id: str
    at: datetime
    direction: Direction
    message_type: MessageType
    unique_id: str
    action: str | None
    payload: Any


@dataclass(slots=True, unsafe_hash=True)
class ChargePointChanged:
    """Connection and boot state of the charge point as a whole.

    ``status`` is one of Unavailable (not connected or not booted),
    Pending, Rejected (boot answers), Available (booted and accepted), Faulted.
    """

    charge_point_id: str
    at: datetime
    status: str
    connected: bool
    boot_reason: str | None = None
    last_heartbeat: datetime | None = None
    heartbeat_interval: int | None = None


@dataclass(slots=True, unsafe_hash=True)
class ConnectorChanged:
    """Status and live electrical values of one connector.

    ``status`` uses the OCPP 1.6 ChargePointStatus words (Available, Preparing,
    Charging, SuspendedEV, SuspendedEVSE, Finishing, Reserved, Unavailable,
    Faulted); the 2.0.1 adapter maps them to its own on the wire.
    ``energy_kwh`` is the energy of the current session, ``total_energy_kwh``
    the connector's energy register.
    """

    charge_point_id: str
    at: datetime
    evse_id: int
    connector_id: int
    status: str
    power_kw: float
    current_a: float
    voltage_v: float
    current_type: Literal["AC", "DC"]
    energy_kwh: float
    total_energy_kwh: float
    soc: float | None
    vehicle_ref: str | None
    id_tag: str | None
    transaction_ref: str | None
    csms_transaction_id: str | None
    error_code: str | None = None


@dataclass(slots=True, unsafe_hash=True)
class TransactionChanged:
    """A transaction started, progressed or ended.

    ``status`` is one of Authorizing, Started (waiting for the CSMS's answer
    or queued offline), Charging, SuspendedEV, SuspendedEVSE, Ended,
    Rejected. ``meter_stop_wh``, ``end_time`` and ``stop_reason`` are set
    once it has ended.
    """

    charge_point_id: str
    at: datetime
    transaction_ref: str
    evse_id: int
    connector_id: int
    status: str
    id_tag: str | None
    vehicle_ref: str | None
    start_time: datetime
    meter_start_wh: int
    energy_kwh: float
    csms_transaction_id: str | None = None
    end_time: datetime | None = None
    meter_stop_wh: int | None = None
    stop_reason: str | None = None


@dataclass(slots=True, unsafe_hash=True)
class MeterSampled:
    """One set of sampled values, as sent to the CSMS in a MeterValues message."""

    charge_point_id: str
    at: datetime
    evse_id: int
    connector_id: int
    transaction_ref: str | None
    energy_wh: float
    power_w: float
    current_a: float
    voltage_v: float
    soc: float | None
    context: str = "Sample.Periodic"


@dataclass(slots=True, unsafe_hash=True)
class VehicleChanged:
    """State of charge and status of a plugged-in vehicle.

    ``status`` is one of ready-to-charge, plugged-in, charging, full.
    """

    charge_point_id: str
    at: datetime
    vehicle_ref: str
    soc: float
    status: str


@dataclass(slots=True, unsafe_hash=True)
class ConfigurationChanged:
    """The CSMS changed stored configuration (1.6 keys or 2.0.1 variables).

    ``values`` holds every non-default value, so a host can store it whole.
    """

    charge_point_id: str
    at: datetime
    values: dict[str, str]


TwinEvent = (
    FrameLogged
    | ChargePointChanged
    | ConnectorChanged
    | TransactionChanged
    | MeterSampled
    | VehicleChanged
    | ConfigurationChanged
)


class EventSink(Protocol):
    """Receives a twin's events. Must not block: a host buffers and writes later."""

    def __call__(self, event: TwinEvent) -> None: ...

"""The live events of a twin, as the public API streams them (server-sent events).

Each event is one JSON object whose ``kind`` says which of the models below it is;
ids follow the REST API (``connector_id`` is the connector's id, ``connectorid``
its number on the charge point, ``transaction_id`` ours, ``transactionid`` the
CSMS's). ``at`` is the twin's own time, which runs ``speed_factor`` times faster
than real time. A viewer too slow to read its stream loses events, never slows the
twins: a ``dropped`` event then says how many it missed at that point.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

EventKind = Literal[
    "frame", "charge_point", "connector", "transaction", "meter", "vehicle", "configuration"
]
#: Every kind a stream can be filtered by (``dropped`` markers always come).
EVENT_KINDS: tuple[str, ...] = EventKind.__args__  # type: ignore[attr-defined]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str
    charge_point_id: uuid.UUID
    at: datetime


class _ConnectorEvent(_Event):
    connector_id: uuid.UUID | None = Field(description="The connector's id in the API")
    connectorid: int = Field(description="The connector's number on the charge point")
    evse_id: uuid.UUID | None = Field(description="The EVSE's id in the API")
    evseid: int = Field(description="The EVSE's number on the charge point")


class FrameEvent(_Event):
    """One OCPP-J frame; ``sent`` is twin → CSMS. ``action`` is also set on the
    CALLRESULT or CALLERROR that answers a CALL."""

    kind: Literal["frame"] = "frame"
    direction: Literal["sent", "received"]
    message_type: Literal["CALL", "CALLRESULT", "CALLERROR"]
    unique_id: str
    action: str | None
    payload: Any


class ChargePointEvent(_Event):
    """The charge point's connection and boot state: ``connected`` turns true when the
    websocket is up and false when it is down; ``status`` is Unavailable, Pending,
    Rejected, Available or Faulted."""

    kind: Literal["charge_point"] = "charge_point"
    status: str
    connected: bool
    boot_reason: str | None
    last_heartbeat: datetime | None
    heartbeat_interval: int | None


class ConnectorEvent(_ConnectorEvent):
    """A connector's status (the OCPP 1.6 words, also for 2.0.1) and live values."""

    kind: Literal["connector"] = "connector"
    status: str
    error_code: str | None
    power_kw: float
    current_a: float
    voltage_v: float
    current_type: Literal["AC", "DC"]
    energy_kwh: float = Field(description="Energy of the current session")
    total_energy_kwh: float = Field(description="The connector's energy register")
    soc: float | None
    vehicle_id: uuid.UUID | None
    id_tag: str | None
    transaction_id: uuid.UUID | None
    transactionid: str | None


class TransactionEvent(_ConnectorEvent):
    """A transaction started, progressed or ended. ``status``: Authorizing, Started
    (waiting for the CSMS or queued offline), Charging, SuspendedEV, SuspendedEVSE,
    Ended, Rejected."""

    kind: Literal["transaction"] = "transaction"
    transaction_id: uuid.UUID
    transactionid: str | None
    status: str
    id_tag: str | None
    vehicle_id: uuid.UUID | None
    start_time: datetime
    meter_start_wh: int
    energy_kwh: float
    end_time: datetime | None
    meter_stop_wh: int | None
    stop_reason: str | None


class MeterEvent(_ConnectorEvent):
    """One set of sampled values, as sent to the CSMS in a MeterValues message."""

    kind: Literal["meter"] = "meter"
    transaction_id: uuid.UUID | None
    context: str
    energy_wh: float = Field(description="The energy register")
    power_w: float
    current_a: float
    voltage_v: float
    soc: float | None


class VehicleEvent(_Event):
    """A plugged-in vehicle's state of charge and status (ready-to-charge, plugged-in,
    charging, full)."""

    kind: Literal["vehicle"] = "vehicle"
    vehicle_id: uuid.UUID
    soc: float
    status: str


class ConfigurationEvent(_Event):
    """The CSMS changed the charge point's configuration; ``values`` holds every value
    that differs from the defaults."""

    kind: Literal["configuration"] = "configuration"
    values: dict[str, str]


class DroppedEvent(BaseModel):
    """This viewer read too slowly: ``count`` events were left out here."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["dropped"] = "dropped"
    at: datetime = Field(description="Real time of the first event left out")
    count: int


TwinEventPublic = Annotated[
    FrameEvent
    | ChargePointEvent
    | ConnectorEvent
    | TransactionEvent
    | MeterEvent
    | VehicleEvent
    | ConfigurationEvent
    | DroppedEvent,
    Field(discriminator="kind"),
]
twin_event_adapter: TypeAdapter[TwinEventPublic] = TypeAdapter(TwinEventPublic)


# -- the bundled test CSMSs' streams ----------------------------------------------------


class CsmsFrameEvent(BaseModel):
    """One OCPP-J frame as the CSMS saw it: ``received`` from the charge point, ``sent``
    to it. ``action`` is also set on the CALLRESULT or CALLERROR that answers a CALL;
    ``message_type`` is INVALID (and ``payload`` the raw text) for what is not OCPP-J."""

    kind: Literal["frame"] = "frame"
    charge_point_id: str
    at: datetime
    direction: Literal["sent", "received"]
    message_type: Literal["CALL", "CALLRESULT", "CALLERROR", "INVALID"]
    unique_id: str | None
    action: str | None
    payload: Any


class CsmsConnectionEvent(BaseModel):
    """A charge point's websocket came up (``connected``) or went down."""

    kind: Literal["connection"] = "connection"
    charge_point_id: str
    at: datetime
    connected: bool
    subprotocol: str | None


CsmsEventPublic = Annotated[
    CsmsFrameEvent | CsmsConnectionEvent | DroppedEvent, Field(discriminator="kind")
]
CSMS_EVENT_KINDS = ("frame", "connection")


def parse_kinds(kinds: str | None, known: tuple[str, ...]) -> frozenset[str] | None:
    """The kinds of a ``?kinds=a,b`` filter (None: all); ValueError says what is wrong."""
    if kinds is None:
        return None
    wanted = frozenset(kind.strip() for kind in kinds.split(",") if kind.strip())
    unknown = sorted(wanted - set(known))
    if unknown or not wanted:
        named = ", ".join(map(repr, unknown)) or "(none given)"
        raise ValueError(f"unknown event kind(s) {named} in kinds; known: {', '.join(known)}")
    return wanted

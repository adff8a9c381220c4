"""The charge point's state: connectors, their reservations and transactions, and
the messages queued for the CSMS.

Plain ``__slots__`` objects that the core (:mod:`worker.twin.charge_point`) changes
and the adapters read; they know nothing of connections or OCPP versions. A
transaction and a queued message convert to and from the plain data of the saved
state (:mod:`worker.twin.state`).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from worker.twin.config import ConnectorConfig, CurrentType
from worker.twin.state import (
    sample_from_state,
    sample_to_state,
    time_from_state,
    time_to_state,
)
from worker.twin.values import MeterSample
from worker.twin.vehicle import Vehicle


class Reservation:
    __slots__ = ("expiry", "id", "id_tag", "parent_id_tag")

    def __init__(
        self, reservation_id: int, id_tag: str, parent_id_tag: str | None, expiry: datetime
    ) -> None:
        self.id = reservation_id
        self.id_tag = id_tag
        self.parent_id_tag = parent_id_tag
        self.expiry = expiry


class Transaction:
    """One charging session. ``ref`` is the twin's id; ``csms_transaction_id`` the
    CSMS's, known once it has answered StartTransaction. ``start_pending``: its
    StartTransaction is queued or on the wire, not answered yet (the queue keeps it;
    not saved: a restored queue sets it again)."""

    __slots__ = (
        "connector_id",
        "csms_transaction_id",
        "end_sample",
        "end_time",
        "energy_wh",
        "evse_id",
        "id_tag",
        "interval_samples",
        "invalid_id",
        "meter_start_wh",
        "meter_stop_wh",
        "ref",
        "reservation_id",
        "start_pending",
        "start_time",
        "status",
        "stop_id_tag",
        "stop_reason",
        "suspended_by_csms",
        "vehicle_ref",
    )

    def __init__(
        self,
        connector: ConnectorState,
        id_tag: str,
        start_time: datetime,
        meter_start_wh: int,
    ) -> None:
        self.ref = str(uuid.uuid4())
        self.connector_id = connector.connector_id
        self.evse_id = connector.evse_id
        self.id_tag = id_tag
        self.vehicle_ref = connector.vehicle_ref
        self.start_time = start_time
        self.meter_start_wh = meter_start_wh
        self.energy_wh = 0.0
        self.csms_transaction_id: str | None = None
        self.status = "Authorizing"
        self.end_time: datetime | None = None
        self.end_sample: MeterSample | None = None
        self.meter_stop_wh: int | None = None
        self.stop_reason: str | None = None
        self.stop_id_tag: str | None = None
        self.reservation_id: int | None = None
        self.suspended_by_csms = False
        self.start_pending = False
        #: Its id tag was found invalid after the start and it charges on, up to
        #: MaxEnergyOnInvalidId; then StopTransactionOnInvalidId decides.
        self.invalid_id = False
        #: Samples taken every TxEndedInterval for the 2.0.1 TransactionEvent Ended.
        self.interval_samples: list[MeterSample] = []

    @property
    def ended(self) -> bool:
        return self.end_time is not None

    def save_state(self) -> dict[str, Any]:
        return {
            "transaction_ref": self.ref,
            "connector_id": self.connector_id,
            "evse_id": self.evse_id,
            "csms_transaction_id": self.csms_transaction_id,
            "id_tag": self.id_tag,
            "vehicle_ref": self.vehicle_ref,
            "start_time": time_to_state(self.start_time),
            "meter_start_wh": self.meter_start_wh,
            "energy_wh": self.energy_wh,
            "status": self.status,
            "reservation_id": self.reservation_id,
            "suspended_by_csms": self.suspended_by_csms,
            "end_time": time_to_state(self.end_time),
            "end_sample": sample_to_state(self.end_sample) if self.end_sample else None,
            "meter_stop_wh": self.meter_stop_wh,
            "stop_reason": self.stop_reason,
            "stop_id_tag": self.stop_id_tag,
            "interval_samples": [sample_to_state(s) for s in self.interval_samples],
            "invalid_id": self.invalid_id,
        }

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Transaction:
        tx = cls.__new__(cls)
        tx.ref = data["transaction_ref"]
        tx.connector_id = data["connector_id"]
        tx.evse_id = data["evse_id"]
        tx.csms_transaction_id = data["csms_transaction_id"]
        tx.id_tag = data["id_tag"]
        tx.vehicle_ref = data["vehicle_ref"]
        start_time = time_from_state(data["start_time"])
        assert start_time is not None
        tx.start_time = start_time
        tx.meter_start_wh = data["meter_start_wh"]
        tx.energy_wh = data["energy_wh"]
        tx.status = data["status"]
        tx.reservation_id = data["reservation_id"]
        tx.suspended_by_csms = data["suspended_by_csms"]
        tx.end_time = time_from_state(data["end_time"])
        end_sample = data["end_sample"]
        tx.end_sample = sample_from_state(end_sample) if end_sample else None
        tx.meter_stop_wh = data["meter_stop_wh"]
        tx.stop_reason = data["stop_reason"]
        tx.stop_id_tag = data["stop_id_tag"]
        tx.start_pending = False
        tx.interval_samples = [sample_from_state(s) for s in data.get("interval_samples", ())]
        tx.invalid_id = bool(data.get("invalid_id"))
        return tx


class ConnectorState:
    """Live state of one connector (charge-point-wide ``connector_id``)."""

    __slots__ = (
        "config",
        "connector_id",
        "current_a",
        "current_type",
        "error_code",
        "evse_id",
        "export_wh",
        "fault_info",
        "finishing",
        "integrated_at",
        "limit_due",
        "limit_kw",
        "operative",
        "pending_start",
        "plug_timed_out",
        "plug_wait_since",
        "power_kw",
        "rebooting",
        "register_wh",
        "reported_status",
        "reservation",
        "scheduled_operative",
        "status",
        "status_since",
        "transaction",
        "vehicle",
        "vehicle_ref",
        "vehicle_status",
    )

    def __init__(self, evse_id: int, config: ConnectorConfig) -> None:
        self.config = config
        self.connector_id = config.connector_id
        self.evse_id = evse_id
        self.current_type: CurrentType = config.current_type
        self.status = "Available"
        #: The status the CSMS was last sent, and since when (monotonic) a status held
        #: back by MinimumStatusDuration holds (see status_report.py).
        self.reported_status: str | None = None
        self.status_since: float | None = None
        self.error_code: str | None = None
        self.fault_info: str | None = None
        self.finishing = False
        self.operative = True
        self.rebooting = False
        self.scheduled_operative: bool | None = None
        self.vehicle: Vehicle | None = None
        self.vehicle_ref: str | None = None
        self.vehicle_status: str | None = None
        self.transaction: Transaction | None = None
        self.reservation: Reservation | None = None
        #: A remote start waiting for the vehicle (a PendingStart, see pending_start.py).
        self.pending_start: Any = None
        #: A vehicle plugged in without authorisation waits since then (clock time), or
        #: (1.6) waited past the connection timeout: see plug_timeout.py.
        self.plug_wait_since: datetime | None = None
        self.plug_timed_out = False
        self.register_wh = config.register_wh
        #: The export register (Wh): energy a bidirectional vehicle gave back (V2X).
        self.export_wh = 0.0
        self.power_kw = 0.0
        self.current_a = 0.0
        self.limit_kw = 0.0
        self.limit_due: float | None = None
        self.integrated_at = 0.0


QueuedKind = Literal["status", "start", "stop", "meter"]


@dataclass(slots=True)
class QueuedMessage:
    """One message waiting for its turn. Status notifications are volatile (dropped
    on disconnect); transaction messages stay until delivered or given up."""

    kind: QueuedKind
    transaction: Transaction | None = None
    sample: MeterSample | None = None
    connector_id: int = 0
    status: str = ""
    error_code: str = "NoError"
    info: str | None = None
    attempts: int = 0
    done: asyncio.Future[Any] | None = None
    #: In the state the host's store has written (see :class:`OutboundQueue`).
    persisted: bool = False

    @property
    def durable(self) -> bool:
        return self.kind != "status"


__all__ = [
    "ConnectorState",
    "QueuedKind",
    "QueuedMessage",
    "Reservation",
    "Transaction",
]

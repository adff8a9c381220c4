"""The neutral values the twin's core and its OCPP adapters exchange.

Whatever the OCPP version: a boot answer, an authorisation answer, a meter sample,
the configuration values the core acts on, and the two ways a CALL to the CSMS
fails. They depend on nothing else of the twin, so that every module can use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal


class ConnectionLost(Exception):
    """No connection to the CSMS, or it closed before the answer arrived."""


class CallFailed(Exception):
    """The CSMS answered a CALL with a CALLERROR, or not in time."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


class InvalidOutgoingCall(CallFailed):
    """A CALL the twin was about to send breaks its request schema; nothing was sent.

    A :class:`CallFailed`, so that the core's usual paths (boot retry, the queue's
    attempts, a command's error) handle it; the adapter has already logged it as
    an error, since it is a bug of the twin and not of the CSMS.
    """


@dataclass(frozen=True, slots=True)
class BootAnswer:
    status: Literal["Accepted", "Pending", "Rejected"]
    interval: int
    current_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class IdTagInfo:
    """An authorisation answer. ``status`` uses the 1.6 words (Accepted, Blocked,
    Expired, Invalid, ConcurrentTx); the 2.0.1 adapter maps its own to them."""

    status: str
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


#: Measurands the twin can produce, with their unit (the same words in 1.6 and 2.0.1).
MEASURAND_UNITS: dict[str, str] = {
    "Energy.Active.Import.Register": "Wh",
    "Energy.Active.Export.Register": "Wh",
    "Power.Active.Import": "W",
    "Power.Active.Export": "W",
    "Power.Offered": "W",
    "Current.Import": "A",
    "Current.Offered": "A",
    "Voltage": "V",
    "SoC": "Percent",
}


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One set of sampled values of a connector; the adapter keeps the measurands
    that :attr:`SessionSettings.measurands` asks for."""

    at: datetime
    connector_id: int
    energy_wh: float
    power_w: float
    current_a: float
    voltage_v: float
    soc: float | None
    phases: int
    context: str = "Sample.Periodic"
    #: The energy the connector gave back to the grid (V2X); None when it never has and
    #: its vehicle cannot (then no export is reported).
    export_wh: float | None = None


@dataclass(slots=True)
class SessionSettings:
    """The configuration values the core acts on, in neutral words.

    The adapter maps its version's keys to these (1.6 ``HeartbeatInterval`` →
    ``heartbeat_interval``...). Intervals are in simulated seconds.
    """

    heartbeat_interval: int = 300
    meter_value_sample_interval: int = 60
    measurands: tuple[str, ...] = (
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
        "SoC",
    )
    authorize_remote_tx_requests: bool = True
    local_authorize_offline: bool = True
    local_pre_authorize: bool = False
    authorization_cache_enabled: bool = True
    local_auth_list_enabled: bool = True
    allow_offline_tx_for_unknown_id: bool = False
    stop_transaction_on_ev_side_disconnect: bool = True
    stop_transaction_on_invalid_id: bool = True
    #: 1.6 ConnectionTimeOut / 2.0.1 TxCtrlr.EVConnectionTimeOut (s).
    connection_timeout: int = 60
    #: 1.6 MinimumStatusDuration (s); 0: every status is reported at once.
    minimum_status_duration: int = 0
    #: Wh a transaction may still draw once its id tag turned out invalid (0: none).
    max_energy_on_invalid_id: int = 0
    #: 2.0.1 SampledDataCtrlr.TxEndedInterval (s); 0: the Ended event's values only at the end.
    tx_ended_interval: int = 0
    transaction_message_attempts: int = 3
    transaction_message_retry_interval: int = 60
    websocket_ping_interval: int = 0


__all__ = [
    "MEASURAND_UNITS",
    "BootAnswer",
    "CallFailed",
    "ConnectionLost",
    "IdTagInfo",
    "InvalidOutgoingCall",
    "MeterSample",
    "SessionSettings",
]

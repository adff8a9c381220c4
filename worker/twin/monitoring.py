"""Variable monitoring of an OCPP 2.0.1 charging station (functional block N).

A monitor watches one variable of the device model and makes the station send a
NotifyEvent: when the value rises above (UpperThreshold) or falls below
(LowerThreshold) a threshold, and again with ``cleared`` when it returns to
normal; when it has moved by at least ``value`` since the last report (Delta; for
a value that is not a number, any change); or every ``value`` seconds (Periodic),
or on every clock-aligned boundary of ``value`` seconds (PeriodicClockAligned).

What the twin decides where the specification leaves it open:

* Hard-wired monitors: the ones behind the notifications the twin has always sent
  — ``ChargingStation.Problem`` and each ``Connector.AvailabilityState`` (Delta,
  severity 1, "hardware failure": the twin reports a connector going Faulted and
  coming back). They cannot be cleared or replaced and appear in monitoring
  reports. There are no pre-configured monitors, so SetMonitoringBase All and
  FactoryDefault differ only in what happens to custom monitors: All keeps them,
  FactoryDefault and HardWiredOnly remove them.
* A monitor with the ``transaction`` flag is evaluated only while a transaction
  runs on its EVSE (on any EVSE for a station-wide variable); a threshold it
  reported exceeded is reported cleared when the transaction ends.
* An event whose severity is above ``MonitoringCtrlr.ActiveMonitoringLevel`` is not
  sent (the monitor's state still moves on); no custom monitor sends anything while
  ``MonitoringCtrlr.Enabled`` is false.
* A twin holds at most :data:`MAX_CUSTOM_MONITORS` custom monitors; ids of custom
  monitors start at :data:`FIRST_CUSTOM_ID`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

MONITOR_TYPES = ("UpperThreshold", "LowerThreshold", "Delta", "Periodic", "PeriodicClockAligned")
_CRITERION_TYPES = {
    "ThresholdMonitoring": ("UpperThreshold", "LowerThreshold"),
    "DeltaMonitoring": ("Delta",),
    "PeriodicMonitoring": ("Periodic", "PeriodicClockAligned"),
}
MAX_CUSTOM_MONITORS = 100
FIRST_CUSTOM_ID = 1000
#: Severity of the hard-wired monitors (1: hardware failure).
HARD_WIRED_SEVERITY = 1

SetStatus = Literal[
    "Accepted",
    "UnknownComponent",
    "UnknownVariable",
    "UnsupportedMonitorType",
    "Rejected",
    "Duplicate",
]


@dataclass(slots=True)
class Monitor:
    """One VariableMonitoringType on one variable (``key``: its device model key).

    ``exceeded`` (thresholds), ``reference`` (Delta: the value last reported) and
    ``due`` (periodic: epoch seconds of the next report) are its evaluation state.
    """

    id: int
    key: str
    type: str
    value: float
    severity: int
    transaction: bool = False
    kind: str = "CustomMonitor"
    exceeded: bool = False
    reference: str | None = None
    due: float | None = None

    def to_wire(self) -> dict[str, Any]:
        """The VariableMonitoringType (camelCase)."""
        return {
            "id": self.id,
            "transaction": self.transaction,
            "value": self.value,
            "type": self.type,
            "severity": self.severity,
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "type": self.type,
            "value": self.value,
            "severity": self.severity,
            "transaction": self.transaction,
            "exceeded": self.exceeded,
            "reference": self.reference,
            "due": self.due,
        }

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Monitor:
        return cls(
            id=int(data["id"]),
            key=data["key"],
            type=data["type"],
            value=float(data["value"]),
            severity=int(data["severity"]),
            transaction=bool(data.get("transaction")),
            exceeded=bool(data.get("exceeded")),
            reference=data.get("reference"),
            due=data.get("due"),
        )


@dataclass(frozen=True, slots=True)
class Fired:
    """What one monitor reports now: a NotifyEvent's eventData in the making."""

    monitor: Monitor
    actual: str
    trigger: Literal["Alerting", "Delta", "Periodic"]
    cleared: bool = False


#: How the adapter reads a monitored variable now: (value, whether the monitor is
#: active now (its transaction condition)), or None when the variable is gone.
Reader = Callable[[Monitor], tuple[str, bool] | None]


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _next_aligned(now: float, interval: float) -> float:
    return (math.floor(now / interval) + 1) * interval


class Monitoring:
    """The custom monitors of one twin (the hard-wired ones follow from its layout)."""

    __slots__ = ("_monitors", "_next_id")

    def __init__(self) -> None:
        self._monitors: dict[int, Monitor] = {}
        self._next_id = FIRST_CUSTOM_ID

    def __bool__(self) -> bool:
        return bool(self._monitors)

    def monitors(self) -> list[Monitor]:
        return list(self._monitors.values())

    # -- SetVariableMonitoring / ClearVariableMonitoring / SetMonitoringBase ---------------

    def set(
        self,
        key: str,
        numeric: bool,
        type_: str,
        value: float,
        severity: int,
        transaction: bool,
        monitor_id: int | None,
        hard_wired_ids: Iterable[int],
        now: float,
    ) -> tuple[SetStatus, int | None]:
        """Add a monitor, or replace monitor ``monitor_id``; (status, its id)."""
        if type_ not in MONITOR_TYPES:
            return "UnsupportedMonitorType", None
        if type_ in ("UpperThreshold", "LowerThreshold") and not numeric:
            return "UnsupportedMonitorType", None
        if type_ in ("Periodic", "PeriodicClockAligned") and value <= 0:
            return "Rejected", None
        if type_ == "Delta" and value < 0:
            return "Rejected", None
        if monitor_id is not None and (
            monitor_id in hard_wired_ids or monitor_id not in self._monitors
        ):
            return "Rejected", None
        for other in self._monitors.values():
            if other.id != monitor_id and (other.key, other.type, other.severity) == (
                key,
                type_,
                severity,
            ):
                return "Duplicate", None
        if monitor_id is None and len(self._monitors) >= MAX_CUSTOM_MONITORS:
            return "Rejected", None
        if monitor_id is None:
            monitor_id = self._next_id
            self._next_id += 1
        monitor = Monitor(monitor_id, key, type_, value, severity, transaction)
        if type_ == "Periodic":
            monitor.due = now + value
        elif type_ == "PeriodicClockAligned":
            monitor.due = _next_aligned(now, value)
        self._monitors[monitor_id] = monitor
        return "Accepted", monitor_id

    def clear(self, monitor_id: int, hard_wired_ids: Iterable[int]) -> str:
        if monitor_id in hard_wired_ids:
            return "Rejected"
        if self._monitors.pop(monitor_id, None) is None:
            return "NotFound"
        return "Accepted"

    def clear_custom(self) -> None:
        self._monitors.clear()

    # -- GetMonitoringReport ---------------------------------------------------------------

    @staticmethod
    def matches(monitor: Monitor, criteria: list[str] | None) -> bool:
        if not criteria:
            return True
        return any(monitor.type in _CRITERION_TYPES.get(c, ()) for c in criteria)

    # -- evaluation ------------------------------------------------------------------------

    def evaluate(self, now: float, read: Reader) -> tuple[list[Fired], bool]:
        """What the monitors report now, and whether a threshold changed sides (a
        change of the saved state worth saving at once)."""
        fired: list[Fired] = []
        flipped = False
        for monitor in self._monitors.values():
            reading = read(monitor)
            if reading is None:
                continue
            actual, active = reading
            if not active:
                if monitor.exceeded:
                    monitor.exceeded = False
                    flipped = True
                    fired.append(Fired(monitor, actual, "Alerting", cleared=True))
                monitor.reference = None
                continue
            kind = monitor.type
            if kind in ("UpperThreshold", "LowerThreshold"):
                number = _number(actual)
                if number is None:
                    continue
                exceeded = (
                    number > monitor.value if kind == "UpperThreshold" else number < monitor.value
                )
                if exceeded != monitor.exceeded:
                    monitor.exceeded = exceeded
                    flipped = True
                    fired.append(Fired(monitor, actual, "Alerting", cleared=not exceeded))
            elif kind == "Delta":
                reference = monitor.reference
                if reference is None:
                    monitor.reference = actual
                    continue
                if actual == reference:
                    continue
                old, new = _number(reference), _number(actual)
                if old is not None and new is not None and abs(new - old) < monitor.value:
                    continue
                monitor.reference = actual
                fired.append(Fired(monitor, actual, "Delta"))
            elif monitor.due is not None and now >= monitor.due:
                if kind == "Periodic":
                    following = monitor.due + monitor.value
                    monitor.due = following if following > now else now + monitor.value
                else:
                    monitor.due = _next_aligned(now, monitor.value)
                fired.append(Fired(monitor, actual, "Periodic"))
        return fired, flipped

    def next_due(self) -> float | None:
        """Epoch seconds of the next periodic report, if any monitor is periodic."""
        dues = [m.due for m in self._monitors.values() if m.due is not None]
        return min(dues) if dues else None

    # -- saved state -----------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "next_id": self._next_id,
            "monitors": [m.to_state() for m in self._monitors.values()],
        }

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Monitoring:
        monitoring = cls()
        monitoring._next_id = int(data.get("next_id", FIRST_CUSTOM_ID))
        for item in data.get("monitors", ()):
            monitor = Monitor.from_state(item)
            monitoring._monitors[monitor.id] = monitor
        return monitoring

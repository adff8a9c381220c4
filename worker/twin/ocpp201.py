"""The OCPP 2.0.1 adapter: the twin's core on the wire as OCPP-J 2.0.1.

:class:`Ocpp201Adapter` is an ``ocpp.v201.ChargePoint`` (routing and schema
validation of the CSMS's CALLs) plus the :class:`ProtocolAdapter` contract, built as
the 1.6 adapter is (one outstanding CALL, answers through one future, payloads as
plain camelCase dicts); the core is the same. What 2.0.1 changes is translated here:

* Transactions: the charge point names them. The transaction id is the twin's
  transaction ref (a UUID, 36 characters: the schema's maximum), so the core's
  StartTransaction / MeterValues / StopTransaction become TransactionEvent
  Started / Updated / Ended carrying it, and the answer to Started hands the same
  id back to the core as the "CSMS transaction id". ``seqNo`` counts per
  transaction from 0 and only moves once a message was answered, so a retried or
  re-queued event keeps its number and the CSMS sees them contiguous.
* ``offline``: an event is marked offline when it happened while the twin had no
  accepted connection (the adapter keeps the few offline periods that queued
  events may still fall in).
* Status: the core's 1.6 words map to ConnectorStatus (a vehicle plugged in is
  Occupied); a repeat of the status last sent for a connector is not sent again.
  The station as a whole has no status in 2.0.1: a station fault is reported
  with NotifyEvent (ChargingStation.Problem), and a connector going Faulted, or
  coming back, with NotifyEvent on its AvailabilityState as well. A change of
  charging state during a transaction is a TransactionEvent Updated
  (ChargingStateChanged).
* Configuration is the device model (:mod:`worker.twin.device_model`).
* CALLERROR: an action this version does not know is NotImplemented, one it knows
  but the twin does not handle is NotSupported (OCPP-J 2.0.1 §4.3).
* TriggerMessage BootNotification is Rejected once the boot was accepted (F06.FR.17).
* Reset OnIdle and ChangeAvailability while a transaction runs answer Scheduled
  and happen when the last transaction has ended.
* Certificates (InstallCertificate, GetInstalledCertificateIds, DeleteCertificate,
  SignCertificate / CertificateSigned, GetCertificateStatus, Get15118EVCertificate) go
  through :mod:`worker.twin.security` to the twin's certificate store, shared with 1.6.

The OCPP-J machinery both versions share (framing, routing, the one outstanding
CALL, CALLERROR, validation of the twin's own CALLs) is :mod:`worker.twin.wire`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from ocpp.exceptions import (
    FormatViolationError,
    NotSupportedError,
    OccurrenceConstraintViolationError,
    OCPPError,
)
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import Action

from worker.twin import security
from worker.twin.authorization import LocalListEntry
from worker.twin.device_model import (
    MAX_VALUE_LENGTH,
    SETTING_VARIABLES,
    Address,
    DeviceModel,
    parse_key,
    selects,
    typed,
    variable,
)
from worker.twin.display_messages import DisplayMessage, DisplayMessages
from worker.twin.firmware import (
    UPLOAD_LOG_STATUS,
    FirmwareAdapterMixin,
    FirmwareUpdate,
    LogUpload,
    certificate_well_formed,
    required_time,
)
from worker.twin.model import QueuedMessage
from worker.twin.monitoring import HARD_WIRED_SEVERITY, Fired, Monitor, Monitoring
from worker.twin.protocol import (
    MEASURAND_UNITS,
    BootAnswer,
    CallFailed,
    ConnectionLost,
    IdTagInfo,
    LoggedConnection,
    MeterSample,
    SessionSettings,
)
from worker.twin.smart_charging import ChargingProfile, format_time
from worker.twin.state import time_from_state, time_to_state
from worker.twin.wire import OcppJAdapter, parse_time, plain

logger = logging.getLogger(__name__)

#: A twin is offline from its creation until its first accepted connection.
_BEFORE_ANY_CONNECTION = datetime.min.replace(tzinfo=UTC)
_KNOWN_ACTIONS = frozenset(action.value for action in Action)
#: reportData entries per NotifyReport part.
REPORT_ITEMS_PER_PART = 50
#: The idToken type of id tags the twin presents itself (an RFID card).
LOCAL_ID_TOKEN_TYPE = "ISO14443"

#: The core's 1.6 ChargePointStatus → 2.0.1 ConnectorStatusEnumType.
CONNECTOR_STATUS: dict[str, str] = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}

#: 2.0.1 AuthorizationStatusEnumType → the core's (1.6) words.
_AUTH_STATUS = {
    "Accepted": "Accepted",
    "Blocked": "Blocked",
    "ConcurrentTx": "ConcurrentTx",
    "Expired": "Expired",
    "Invalid": "Invalid",
}

#: The core's stop reason → (triggerReason, stoppedReason).
_STOP: dict[str, tuple[str, str]] = {
    "Local": ("StopAuthorized", "Local"),
    "Remote": ("RemoteStop", "Remote"),
    "EVDisconnected": ("EVCommunicationLost", "EVDisconnected"),
    "HardReset": ("ResetCommand", "ImmediateReset"),
    "SoftReset": ("ResetCommand", "ImmediateReset"),
    "ImmediateReset": ("ResetCommand", "ImmediateReset"),
    "Reboot": ("ResetCommand", "Reboot"),
    "UnlockCommand": ("UnlockCommand", "Other"),
    "DeAuthorized": ("Deauthorized", "DeAuthorized"),
    "PowerLoss": ("AbnormalCondition", "PowerLoss"),
    "EmergencyStop": ("AbnormalCondition", "EmergencyStop"),
    "EnergyLimitReached": ("EnergyLimitReached", "EnergyLimitReached"),
    # MaxEnergyOnInvalidId delivered: the energy is what triggers the stop, the
    # invalid idToken why the transaction ends.
    "InvalidIdEnergyLimit": ("EnergyLimitReached", "DeAuthorized"),
}

#: The core's transaction status → 2.0.1 ChargingStateEnumType (else EVConnected).
_CHARGING_STATE = {
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
}

_HEARTBEAT = variable("OCPPCommCtrlr", "HeartbeatInterval")
_TX_STARTED = variable("SampledDataCtrlr", "TxStartedMeasurands")
_TX_ENDED = variable("SampledDataCtrlr", "TxEndedMeasurands")
_TX_STOP_POINT = variable("TxCtrlr", "TxStopPoint")
_ALIGNED = variable("AlignedDataCtrlr", "Measurands")
_ALIGNED_ENABLED = variable("AlignedDataCtrlr", "Enabled")
_ALIGNED_INTERVAL = variable("AlignedDataCtrlr", "Interval")
_ALIGNED_IDLE_ONLY = variable("AlignedDataCtrlr", "SendDuringIdle")
_CACHE_ENABLED = variable("AuthCacheCtrlr", "Enabled")
_RESERVATION_ENABLED = variable("ReservationCtrlr", "Enabled")
_SMART_ENABLED = variable("SmartChargingCtrlr", "Enabled")
_STACK_LEVEL = variable("SmartChargingCtrlr", "ProfileStackLevel")
_PERIODS = variable("SmartChargingCtrlr", "PeriodsPerSchedule")
_LIST_ITEMS = variable("LocalAuthListCtrlr", "ItemsPerMessage")
_GET_ITEMS = variable("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables")
_SET_ITEMS = variable("DeviceDataCtrlr", "ItemsPerMessage", "SetVariables")
_REPORT_ITEMS = variable("DeviceDataCtrlr", "ItemsPerMessage", "GetReport")
_DISPLAY_ENABLED = variable("DisplayMessageCtrlr", "Enabled")
_DISPLAY_COUNT = variable("DisplayMessageCtrlr", "NumberOfDisplayMessages")
_DISPLAY_FORMATS = variable("DisplayMessageCtrlr", "SupportedFormats")
_DISPLAY_PRIORITIES = variable("DisplayMessageCtrlr", "SupportedPriorities")
#: messageInfo entries per NotifyDisplayMessages part.
DISPLAY_MESSAGES_PER_PART = 10
_MONITORING_ENABLED = variable("MonitoringCtrlr", "Enabled")
_MONITORING_BASE = variable("MonitoringCtrlr", "ActiveMonitoringBase")
_MONITORING_LEVEL = variable("MonitoringCtrlr", "ActiveMonitoringLevel")
_SET_MONITORING_ITEMS = variable("MonitoringCtrlr", "ItemsPerMessage", "SetVariableMonitoring")
_SET_MONITORING_BYTES = variable("MonitoringCtrlr", "BytesPerMessage", "SetVariableMonitoring")
_CLEAR_MONITORING_ITEMS = variable("MonitoringCtrlr", "ItemsPerMessage", "ClearVariableMonitoring")
_CLEAR_MONITORING_BYTES = variable("MonitoringCtrlr", "BytesPerMessage", "ClearVariableMonitoring")
#: monitor entries (one per variable) per NotifyMonitoringReport part.
MONITORS_PER_PART = 20
#: Real seconds between two evaluations of a twin's threshold and delta monitors.
MONITOR_CHECK_SECONDS = 0.5
_ORGANIZATION = variable("SecurityCtrlr", "OrganizationName")


class _TxState:
    """What 2.0.1 adds to a transaction while its events are on their way."""

    __slots__ = ("charging_state", "id_token_type", "remote_start_id", "seq_no")

    def __init__(self, remote_start_id: int | None, id_token_type: str) -> None:
        self.seq_no = 0
        self.remote_start_id = remote_start_id
        self.id_token_type = id_token_type
        self.charging_state: str | None = None


class _RemoteStart:
    """An accepted RequestStartTransaction whose transaction has not started yet."""

    __slots__ = ("connector_ids", "id_token_type", "remote_start_id", "requested_at")

    def __init__(
        self,
        remote_start_id: int,
        id_token_type: str,
        requested_at: datetime,
        connector_ids: tuple[int, ...] | None,
    ) -> None:
        self.remote_start_id = remote_start_id
        self.id_token_type = id_token_type
        self.requested_at = requested_at
        self.connector_ids = connector_ids

    def started(self, tx: Any, within: float) -> bool:
        """Whether ``tx`` is the transaction this request started: same connector, and
        begun ``within`` simulated seconds (the time an Authorize may take); otherwise
        the request came to nothing and this is a later start with the same id token."""
        if self.connector_ids is not None and tx.connector_id not in self.connector_ids:
            return False
        return (tx.start_time - self.requested_at).total_seconds() <= within


def _id_tag_info(data: Any) -> IdTagInfo:
    """An IdTokenInfoType in the core's words; camelCase (an answer to our CALL) or
    snake_case (inside a CSMS CALL, as the library hands it)."""
    data = data or {}
    group = data.get("groupIdToken") or data.get("group_id_token") or {}
    expiry = data.get("cacheExpiryDateTime") or data.get("cache_expiry_date_time")
    return IdTagInfo(
        status=_AUTH_STATUS.get(str(data.get("status")), "Invalid"),
        expiry_date=parse_time(expiry),
        parent_id_tag=group.get("idToken") or group.get("id_token"),
    )


class Ocpp201Adapter(FirmwareAdapterMixin, OcppJAdapter, ChargePoint):
    """OCPP 2.0.1 for one twin."""

    subprotocol: ClassVar[str] = "ocpp2.0.1"
    #: Also the answers to TransactionEvent when not empty (see :meth:`validates_answer`).
    validated_answers: ClassVar[frozenset[str]] = frozenset(
        {
            "BootNotification",
            "Authorize",
            "DataTransfer",
            "SignCertificate",
            "GetCertificateStatus",
            "Get15118EVCertificate",
        }
    )

    def __init__(self, twin: Any) -> None:
        self._init_wire(twin)
        self.model = DeviceModel(twin.config.evses)
        ignored = self.model.load(twin.config.ocpp_configuration)
        if ignored:
            logger.warning("%s: ignoring stored variables %s", self.id, ", ".join(ignored))
        self.settings = SessionSettings()
        for definition in SETTING_VARIABLES:
            self._apply(definition)
        self._tx: dict[str, _TxState] | None = None
        self._tx_lock: asyncio.Lock | None = None
        self._remote_starts: dict[str, _RemoteStart] | None = None
        self._last_status: dict[int, str] | None = None
        self._station_problem = False
        self._offline_since: datetime | None = _BEFORE_ANY_CONNECTION
        self._offline_periods: list[tuple[datetime, datetime]] | None = None
        self._reset_when_idle = False
        self._evse_resets_when_idle: set[int] | None = None
        self._event_id = 0
        self._display: DisplayMessages | None = None
        self._monitoring: Monitoring | None = None
        self._monitor_task: asyncio.Task[None] | None = None

    # -- configuration -----------------------------------------------------------------

    def _apply(self, definition: Any) -> None:
        if definition.setting is not None:
            value = typed(definition, self.model.station_value(definition))
            setattr(self.settings, definition.setting, value)

    def configuration_values(self) -> dict[str, str]:
        return self.model.values()

    def heartbeat_interval_from_boot(self, interval: int) -> None:
        self.model.load({Address(_HEARTBEAT).key: str(interval)})
        self._apply(_HEARTBEAT)

    def value(self, definition: Any) -> str:
        return self.model.station_value(definition)

    def _live(self, address: Address) -> str:
        """The value of a variable that follows from the twin's configuration or state."""
        twin = self.twin
        config = twin.config
        component, name = address.variable.component, address.variable.name
        if component == "ChargingStation":
            if name == "AvailabilityState":
                return CONNECTOR_STATUS.get(twin.status_of(0)[0], "Unavailable")
            if name == "Problem":
                faulted = twin.status_of(0)[0] == "Faulted" or any(
                    c.status == "Faulted" for c in twin.connectors()
                )
                return "true" if faulted else "false"
            if name == "SupplyPhases":
                return str(config.phases_ac)
            return {
                "Model": config.model,
                "VendorName": config.vendor,
                "SerialNumber": config.serial_number or "",
            }.get(name, "")
        connectors = [
            c
            for c in twin.connectors()
            if c.evse_id == address.evse_id
            and (address.connector_id is None or c.config.evse_connector_id == address.connector_id)
        ]
        if component in ("EVSE", "Connector") and connectors:
            first = connectors[0]
            if name == "AvailabilityState":
                statuses = {CONNECTOR_STATUS.get(c.status, "Unavailable") for c in connectors}
                for status in ("Faulted", "Occupied", "Reserved", "Unavailable"):
                    if status in statuses:
                        return status
                return "Available"
            if name == "SupplyPhases":
                return "0" if first.current_type == "DC" else str(config.phases_ac)
            if name == "Power":
                power = sum(twin.current_sample(c, "Trigger").power_w for c in connectors)
                return f"{power:.1f}"
            if name == "ConnectorType":
                return first.config.connector_type
        if name == "MessageTimeout":
            return f"{twin.response_timeout:g}"
        if name == "DateTime":
            return format_time(twin.now())
        if name == "Identity":
            return config.cid
        if name == "SecurityProfile":
            return str(security.security_profile(config, twin.certificates))
        if name == "CertificateEntries":
            return str(len(twin.certificates.installed))
        if component == "LocalAuthListCtrlr":
            return str(twin.authorizer.list_size())
        if component == "SmartChargingCtrlr":
            return str(len(twin.profiles))
        if component == "DisplayMessageCtrlr":
            return str(len(self.display_messages()))
        return ""

    # -- EVSE / connector numbering ------------------------------------------------------

    def _connector_ids(self, evse_id: int, connector_id: int | None = None) -> list[int]:
        """Charge-point-wide connector ids of an EVSE (or of one of its connectors)."""
        for evse in self.twin.config.evses:
            if evse.evse_id == evse_id:
                return [
                    c.connector_id
                    for c in evse.connectors
                    if connector_id is None or c.evse_connector_id == connector_id
                ]
        return []

    def _evse_of(self, connector_id: int) -> tuple[int, int]:
        connector = self.twin.connector(connector_id)
        return connector.evse_id, connector.config.evse_connector_id

    def _profile_connector(self, evse_id: int) -> int | None:
        """Where a profile for an EVSE is kept: its connector with a transaction, else
        its first connector (the core's profile store is per connector)."""
        ids = self._connector_ids(evse_id)
        for cid in ids:
            if self.twin.connector(cid).transaction is not None:
                return cid
        return ids[0] if ids else None

    # -- saved state ---------------------------------------------------------------------

    def save_state(self) -> dict[str, Any]:
        return {
            "firmware": self.firmware_state(),
            "offline_since": time_to_state(self._offline_since),
            "offline_periods": [
                [time_to_state(start), time_to_state(end)]
                for start, end in self._offline_periods or ()
            ],
            "event_id": self._event_id,
            **({"display_messages": self._display.to_state()} if self._display else {}),
            **({"monitoring": self._monitoring.to_state()} if self._monitoring else {}),
            "remote_starts": {
                id_tag: {
                    "remote_start_id": start.remote_start_id,
                    "id_token_type": start.id_token_type,
                    "requested_at": time_to_state(start.requested_at),
                    "connector_ids": list(start.connector_ids)
                    if start.connector_ids is not None
                    else None,
                }
                for id_tag, start in (self._remote_starts or {}).items()
            },
        }

    def restore_state(self, data: dict[str, Any]) -> None:
        """Offline from when the saved twin was (or else from now: what it sent
        online before was not offline) until the next accepted connection."""
        self.restore_firmware_state(data.get("firmware"))
        self._offline_since = time_from_state(data.get("offline_since")) or self.twin.now()
        periods = [
            (time_from_state(start), time_from_state(end))
            for start, end in data.get("offline_periods", ())
        ]
        self._offline_periods = [(a, b) for a, b in periods if a and b] or None
        self._event_id = int(data.get("event_id", 0))
        if data.get("display_messages"):
            self._display = DisplayMessages.from_state(data["display_messages"])
        if data.get("monitoring"):
            self._monitoring = Monitoring.from_state(data["monitoring"])
        for id_tag, start in (data.get("remote_starts") or {}).items():
            requested_at = time_from_state(start["requested_at"])
            if requested_at is None:
                continue
            ids = start["connector_ids"]
            if self._remote_starts is None:
                self._remote_starts = {}
            self._remote_starts[id_tag] = _RemoteStart(
                start["remote_start_id"],
                start["id_token_type"],
                requested_at,
                tuple(ids) if ids is not None else None,
            )

    def transaction_state(self, transaction: Any) -> dict[str, Any] | None:
        # Made now if no event was sent yet, as the first send would (same match
        # with a pending RequestStartTransaction), so that its remoteStartId and
        # idToken type survive a restore.
        state = self._state(transaction)
        return {
            "seq_no": state.seq_no,
            "charging_state": state.charging_state,
            "id_token_type": state.id_token_type,
            "remote_start_id": state.remote_start_id,
        }

    def restore_transaction_state(self, transaction: Any, data: dict[str, Any]) -> None:
        state = _TxState(data["remote_start_id"], data["id_token_type"])
        state.seq_no = data["seq_no"]
        state.charging_state = data["charging_state"]
        if self._tx is None:
            self._tx = {}
        self._tx[transaction.ref] = state

    def skip_unsaved_numbers(self, transaction: Any, seconds: float) -> None:
        """Skip the seqNos of the periodic and clock-aligned TransactionEvents that may
        have gone out in ``seconds`` (at most one per interval, and one at its start):
        a seqNo may then be missing after a crash, but never used twice."""
        state = self._state(transaction)
        for interval in (self.twin.sample_interval(), self.aligned_interval()):
            if interval > 0:
                state.seq_no += int(seconds // interval) + 1

    # -- offline periods -----------------------------------------------------------------

    def _went_online(self) -> None:
        since = self._offline_since
        if since is None:
            return
        self._offline_since = None
        if self.twin.queue.durable_items():
            if self._offline_periods is None:
                self._offline_periods = []
            self._offline_periods.append((since, self.twin.now()))

    def _was_offline(self, at: datetime) -> bool:
        if self._offline_since is not None and at >= self._offline_since:
            return True
        if not self._offline_periods:
            return False
        return any(start <= at < end for start, end in self._offline_periods)

    def _forget_offline_periods(self) -> None:
        if self._offline_periods and not self.twin.queue.durable_items():
            self._offline_periods = None

    # -- the wire ------------------------------------------------------------------------

    def attach(self, connection: LoggedConnection) -> None:
        super().attach(connection)
        self._last_status = None
        self._restart_monitoring()

    def detach(self) -> None:
        super().detach()
        self._restart_monitoring()
        if self._offline_since is None:
            self._offline_since = self.twin.now()

    def before_call(self, action: str) -> None:
        if action != "BootNotification" and self.twin.online:
            self._went_online()

    def validates_answer(self, action: str, answer: dict[str, Any]) -> bool:
        return action in self.validated_answers or (action == "TransactionEvent" and bool(answer))

    def unhandled_action(self, action: str) -> OCPPError:
        """NotSupported for an action 2.0.1 knows, NotImplemented for one it does not
        (OCPP-J 2.0.1 §4.3)."""
        if action in _KNOWN_ACTIONS:
            cause = f"{action} is not supported by this charging station"
            return NotSupportedError(details={"cause": cause})
        return OcppNotImplemented(details={"cause": f"{action} is not an OCPP action"})

    # -- twin → CSMS ---------------------------------------------------------------------

    async def send_boot_notification(self, reason: str) -> BootAnswer:
        config = self.twin.config
        station: dict[str, Any] = {
            "model": config.model[:20],
            "vendorName": config.vendor[:50],
            "firmwareVersion": self.reported_firmware_version(config.firmware_version)[:50],
        }
        if config.serial_number:
            station["serialNumber"] = config.serial_number[:25]
        result = await self._call(
            "BootNotification", {"chargingStation": station, "reason": reason}
        )
        return BootAnswer(
            result["status"], int(result["interval"]), parse_time(result.get("currentTime"))
        )

    async def send_status_notification(
        self, connector_id: int, status: str, error_code: str, info: str | None
    ) -> None:
        await self._send_status(connector_id, status, error_code, info, force=False)

    async def _send_status(
        self, connector_id: int, status: str, error_code: str, info: str | None, *, force: bool
    ) -> None:
        twin = self.twin
        if connector_id == 0:
            problem = status == "Faulted"
            if problem != self._station_problem:
                self._station_problem = problem
                await self._notify_event(
                    None, "Problem", "true" if problem else "false", error_code, info, not problem
                )
            return
        connector = twin.connector(connector_id)
        if connector is None:
            return
        wire = CONNECTOR_STATUS.get(status, "Unavailable")
        if wire == "Occupied" and connector.vehicle is None:
            wire = "Available"  # no cable: a kept transaction, or one awaiting the EV
        last = self._last_status.get(connector_id) if self._last_status else None
        if force or wire != last:
            evse_id, evse_connector_id = self._evse_of(connector_id)
            await self._call(
                "StatusNotification",
                {
                    "timestamp": format_time(twin.now()),
                    "connectorStatus": wire,
                    "evseId": evse_id,
                    "connectorId": evse_connector_id,
                },
            )
            if self._last_status is None:
                self._last_status = {}
            self._last_status[connector_id] = wire
            if last is not None and (wire == "Faulted") != (last == "Faulted"):
                await self._notify_event(
                    connector_id, "AvailabilityState", wire, error_code, info, wire != "Faulted"
                )
        tx = connector.transaction
        state = self._tx.get(tx.ref) if tx is not None and self._tx else None
        if tx is not None and state is not None and state.seq_no > 0:
            charging = _CHARGING_STATE.get(status)
            trigger = "ChargingStateChanged"
            if connector.vehicle is None:
                charging, trigger = "Idle", "EVCommunicationLost"
            elif state.charging_state == "Idle":
                trigger = "CablePluggedIn"
            if charging is not None and charging != state.charging_state:
                await self._transaction_event(tx, "Updated", trigger, twin.now(), queued=False)

    async def _notify_event(
        self,
        connector_id: int | None,
        name: str,
        value: str,
        error_code: str,
        info: str | None,
        cleared: bool,
    ) -> None:
        """What a hard-wired monitor reports of a component's availability or problem
        (:mod:`worker.twin.monitoring`), unless the monitoring level is below its severity."""
        if int(self.value(_MONITORING_LEVEL)) < HARD_WIRED_SEVERITY:
            return
        component: dict[str, Any] = {"name": "ChargingStation"}
        if connector_id is not None:
            evse_id, evse_connector_id = self._evse_of(connector_id)
            component = {
                "name": "Connector",
                "evse": {"id": evse_id, "connectorId": evse_connector_id},
            }
        event: dict[str, Any] = {
            "eventId": self._next_event_id(),
            "timestamp": format_time(self.twin.now()),
            "trigger": "Delta",
            "actualValue": value,
            "eventNotificationType": "HardWiredMonitor",
            "component": component,
            "variable": {"name": name},
            "variableMonitoringId": 1 + (connector_id or 0),
        }
        if cleared:
            event["cleared"] = True
        elif error_code and error_code != "NoError":
            event["techCode"] = error_code[:50]
        if info and not cleared:
            event["techInfo"] = info[:500]
        await self._send_events([event])

    async def _send_events(self, events: list[dict[str, Any]]) -> None:
        generated_at = format_time(self.twin.now())
        await self._call(
            "NotifyEvent", {"generatedAt": generated_at, "seqNo": 0, "eventData": events}
        )

    def _next_event_id(self) -> int:
        self._event_id += 1
        return self._event_id

    def _id_token_type(self, id_tag: str) -> str:
        pending = self._remote_starts.get(id_tag) if self._remote_starts else None
        return pending.id_token_type if pending is not None else LOCAL_ID_TOKEN_TYPE

    async def send_authorize(self, id_tag: str) -> IdTagInfo:
        token = {"idToken": id_tag, "type": self._id_token_type(id_tag)}
        result = await self._call("Authorize", {"idToken": token})
        info = _id_tag_info(result.get("idTokenInfo"))
        if not info.accepted and self._remote_starts:
            self._remote_starts.pop(id_tag, None)  # that remote start comes to nothing
        return info

    def _state(self, tx: Any) -> _TxState:
        if self._tx is None:
            self._tx = {}
        state = self._tx.get(tx.ref)
        if state is None:
            remote = self._remote_starts.pop(tx.id_tag, None) if self._remote_starts else None
            within = 2 * self.twin.response_timeout * self.twin.clock.speed + 1
            # A remote start may wait for the vehicle up to EVConnectionTimeOut.
            within += self.settings.connection_timeout
            if remote is not None and remote.started(tx, within):
                state = _TxState(remote.remote_start_id, remote.id_token_type)
            else:
                state = _TxState(None, LOCAL_ID_TOKEN_TYPE)
            self._tx[tx.ref] = state
        return state

    async def send_start_transaction(self, transaction: Any) -> tuple[str, IdTagInfo]:
        state = self._state(transaction)
        trigger = "RemoteStart" if state.remote_start_id is not None else "Authorized"
        result = await self._transaction_event(
            transaction,
            "Started",
            trigger,
            transaction.start_time,
            meter=self._register_value(
                transaction.meter_start_wh, transaction.start_time, "Transaction.Begin", _TX_STARTED
            ),
        )
        answer = result.get("idTokenInfo")
        info = _id_tag_info(answer) if answer else IdTagInfo("Accepted")
        return transaction.ref, info

    async def send_stop_transaction(self, transaction: Any) -> IdTagInfo | None:
        trigger, _ = _STOP.get(transaction.stop_reason or "", ("AbnormalCondition", "Other"))
        result = await self._transaction_event(
            transaction,
            "Ended",
            trigger,
            transaction.end_time,
            meter=self._ended_meter_values(transaction),
        )
        if self._tx:
            self._tx.pop(transaction.ref, None)
        self._forget_offline_periods()
        if self._reset_when_idle and not any(c.transaction for c in self.twin.connectors()):
            self._reset_when_idle = False
            logger.info("%s: last transaction ended, resetting (OnIdle)", self.id)
            self.twin.handle_reset(False)
        for evse_id in list(self._evse_resets_when_idle or ()):
            if not any(self.twin.connector(c).transaction for c in self._connector_ids(evse_id)):
                self._evse_resets_when_idle.discard(evse_id)  # type: ignore[union-attr]
                logger.info("%s: EVSE %s idle, restarting it (OnIdle)", self.id, evse_id)
                self.twin.reset_evse(evse_id, "ImmediateReset")
        answer = result.get("idTokenInfo")
        return _id_tag_info(answer) if answer else None

    async def send_meter_values(self, sample: MeterSample, transaction: Any | None) -> None:
        if transaction is None:
            evse_id, _ = self._evse_of(sample.connector_id)
            measurands = typed(_ALIGNED, self.value(_ALIGNED))
            await self._call(
                "MeterValues",
                {"evseId": evse_id, "meterValue": [self.meter_value(sample, measurands)]},
            )
            return
        measurands = self.settings.measurands
        trigger = "MeterValuePeriodic"
        if sample.context == "Trigger":
            trigger = "Trigger"
        elif sample.context == "Sample.Clock":
            trigger = "MeterValueClock"
            measurands = typed(_ALIGNED, self.value(_ALIGNED))
        await self._transaction_event(
            transaction, "Updated", trigger, sample.at, meter=self.meter_value(sample, measurands)
        )
        self._forget_offline_periods()

    async def _transaction_event(
        self,
        tx: Any,
        event_type: str,
        trigger: str,
        at: datetime,
        *,
        meter: dict[str, Any] | list[dict[str, Any]] | None = None,
        queued: bool = True,
    ) -> Any:
        """Send one TransactionEvent; its seqNo is taken and advanced under a lock so
        that a triggered event cannot take the number of a queued one.

        A queued event is in the saved state before it is first sent (the queue sees
        to it), so a restored twin sends it again with its number. One that is not
        queued (ChargingStateChanged, Trigger) is sent once: the state saved before it
        goes out already counts its number, so that a restored twin never reuses it.
        """
        if self._tx_lock is None:
            self._tx_lock = asyncio.Lock()
        async with self._tx_lock:
            state = self._state(tx)
            if not queued and self.twin.store is not None:
                state.seq_no += 1
                try:
                    self.twin.mark_changed()
                    await self.twin.store.saved(self.twin)
                finally:
                    state.seq_no -= 1
            info: dict[str, Any] = {"transactionId": tx.ref}
            unplugged = self._unplugged(tx)
            if event_type == "Ended":
                idle = tx.stop_reason == "EVDisconnected" or unplugged
                charging = "Idle" if idle else "EVConnected"
                info["stoppedReason"] = _STOP.get(tx.stop_reason or "", ("", "Other"))[1]
            else:
                charging = "Idle" if unplugged else _CHARGING_STATE.get(tx.status, "EVConnected")
            if charging != state.charging_state:
                info["chargingState"] = charging
            if event_type == "Started" and state.remote_start_id is not None:
                info["remoteStartId"] = state.remote_start_id
            payload: dict[str, Any] = {
                "eventType": event_type,
                "timestamp": format_time(at),
                "triggerReason": trigger,
                "seqNo": state.seq_no,
                "transactionInfo": info,
            }
            meters = meter if isinstance(meter, list) else [meter] if meter else []
            meters = [m for m in meters if m["sampledValue"]]
            if meters:
                payload["meterValue"] = meters
            if self._was_offline(at):
                payload["offline"] = True
            if event_type == "Started" or state.seq_no == 0:
                evse_id, evse_connector_id = self._evse_of(tx.connector_id)
                payload["evse"] = {"id": evse_id, "connectorId": evse_connector_id}
            id_token = self._id_token_for(tx, state, event_type)
            if id_token is not None:
                payload["idToken"] = id_token
            if event_type == "Started":
                if tx.reservation_id is not None:
                    payload["reservationId"] = tx.reservation_id
                if self.twin.connector(tx.connector_id).current_type == "AC":
                    payload["numberOfPhasesUsed"] = self.twin.config.phases_ac
            result = await self._call("TransactionEvent", payload)
            state.seq_no += 1
            state.charging_state = charging
            # Were the host to die before the next save, the restored twin sends this
            # (queued) event again with the same number: a retry, not a reuse.
            self.twin.mark_progressed()
            return result

    def _unplugged(self, tx: Any) -> bool:
        """A transaction that runs on with no vehicle on its connector."""
        connector = self.twin.connector(tx.connector_id)
        return connector is not None and connector.transaction is tx and connector.vehicle is None

    def start_abandoned(self, id_tag: str) -> None:
        if self._remote_starts:
            self._remote_starts.pop(id_tag, None)

    def keeps_transaction_when_unplugged(self) -> bool:
        """StopTxOnEVSideDisconnect false keeps it, unless EVConnected is a TxStopPoint
        (then unplugging is where the transaction ends, E06)."""
        if self.settings.stop_transaction_on_ev_side_disconnect:
            return False
        return "EVConnected" not in typed(_TX_STOP_POINT, self.value(_TX_STOP_POINT))

    @staticmethod
    def _id_token_for(tx: Any, state: _TxState, event_type: str) -> dict[str, Any] | None:
        if event_type == "Started":
            return {"idToken": tx.id_tag, "type": state.id_token_type}
        if event_type == "Ended" and tx.stop_id_tag:
            return {"idToken": tx.stop_id_tag, "type": LOCAL_ID_TOKEN_TYPE}
        return None

    def _ended_meter_values(self, tx: Any) -> list[dict[str, Any]]:
        """The Ended event's meterValue list: the TxEndedMeasurands at the start, every
        TxEndedInterval from the start (when above 0), and at the end."""
        measurands = typed(_TX_ENDED, self.value(_TX_ENDED))
        begin = self._register_value(
            tx.meter_start_wh, tx.start_time, "Transaction.Begin", _TX_ENDED
        )
        end = self._register_value(tx.meter_stop_wh, tx.end_time, "Transaction.End", _TX_ENDED)
        values = [begin] if begin else []
        for sample in tx.interval_samples:
            value = self.meter_value(sample, measurands)
            if value["sampledValue"]:
                values.append(value)
        if end:
            values.append(end)
        return values

    def _register_value(
        self, wh: int | None, at: datetime | None, context: str, measurands_var: Any
    ) -> dict[str, Any] | None:
        """The energy register at a transaction's start or end, if the measurands ask."""
        measurands = typed(measurands_var, self.value(measurands_var))
        if wh is None or at is None or "Energy.Active.Import.Register" not in measurands:
            return None
        return {
            "timestamp": format_time(at),
            "sampledValue": [
                {
                    "value": float(wh),
                    "context": context,
                    "measurand": "Energy.Active.Import.Register",
                    "unitOfMeasure": {"unit": "Wh"},
                }
            ],
        }

    def meter_value(self, sample: MeterSample, measurands: tuple[str, ...]) -> dict[str, Any]:
        """One MeterValueType with the given measurands."""
        values = []
        for measurand, value, decimals in self.readings(sample, measurands):
            entry: dict[str, Any] = {
                "value": round(value, decimals),
                "context": sample.context,
                "measurand": measurand,
                "unitOfMeasure": {"unit": MEASURAND_UNITS[measurand]},
            }
            if measurand == "SoC":
                entry["location"] = "EV"
            values.append(entry)
        return {"timestamp": format_time(sample.at), "sampledValue": values}

    # -- clock-aligned meter values --------------------------------------------------------

    def aligned_interval(self) -> int:
        if self.value(_ALIGNED_ENABLED) != "true":
            return 0
        return int(self.value(_ALIGNED_INTERVAL))

    def sample_aligned(self) -> None:
        """Sample.Clock values of every EVSE: in a TransactionEvent (MeterValueClock)
        while a transaction runs, else in MeterValues."""
        twin = self.twin
        idle_only = self.value(_ALIGNED_IDLE_ONLY) == "true"
        for evse in twin.config.evses:
            connectors = [twin.connector(c.connector_id) for c in evse.connectors]
            busy = next((c for c in connectors if c.transaction is not None), None)
            if busy is not None:
                if not idle_only:
                    sample = twin.current_sample(busy, "Sample.Clock")
                    twin.queue.put(QueuedMessage("meter", busy.transaction, sample=sample))
                continue
            sample = twin.current_sample(connectors[0], "Sample.Clock")
            twin.spawn(self.send_meter_values(sample, None))

    # -- CSMS → twin: transactions ---------------------------------------------------------

    @on(Action.request_start_transaction)
    def on_request_start_transaction(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: Any = None,
        **_: Any,
    ) -> call_result.RequestStartTransaction:
        rejected = call_result.RequestStartTransaction(status="Rejected")
        connector_id = None
        if evse_id is not None:
            ids = self._connector_ids(evse_id)
            if not ids:
                return rejected
            plugged = [cid for cid in ids if self.twin.connector(cid).vehicle is not None]
            connector_id = (plugged or ids)[0]
        profile = None
        if charging_profile is not None:
            try:
                profile = ChargingProfile.from_ocpp201(plain(charging_profile))
            except (ValueError, TypeError) as error:
                logger.info("%s: RequestStart profile rejected: %s", self.id, error)
                return rejected
        id_tag = id_token["id_token"]
        if self._remote_starts is None:
            self._remote_starts = {}
        previous = self._remote_starts.get(id_tag)
        self._remote_starts[id_tag] = _RemoteStart(
            remote_start_id,
            id_token.get("type", "Central"),
            self.twin.now(),
            (connector_id,) if connector_id is not None else None,
        )
        if not self.twin.handle_remote_start(id_tag, connector_id, profile):
            if previous is None:
                self._remote_starts.pop(id_tag, None)
            else:
                self._remote_starts[id_tag] = previous
            return rejected
        return call_result.RequestStartTransaction(status="Accepted")

    @on(Action.request_stop_transaction)
    def on_request_stop_transaction(
        self, transaction_id: str, **_: Any
    ) -> call_result.RequestStopTransaction:
        accepted = self.twin.handle_remote_stop(transaction_id)
        return call_result.RequestStopTransaction(status="Accepted" if accepted else "Rejected")

    @on(Action.get_transaction_status)
    def on_get_transaction_status(
        self, transaction_id: str | None = None, **_: Any
    ) -> call_result.GetTransactionStatus:
        queued = [
            item
            for item in self.twin.queue.durable_items()
            if transaction_id is None
            or (item.transaction is not None and item.transaction.ref == transaction_id)
        ]
        ongoing = None
        if transaction_id is not None:
            tx = self.twin.find_transaction(transaction_id)
            ongoing = tx is not None and not tx.ended
        return call_result.GetTransactionStatus(
            messages_in_queue=bool(queued), ongoing_indicator=ongoing
        )

    # -- CSMS → twin: availability ---------------------------------------------------------------

    @on(Action.change_availability)
    def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> call_result.ChangeAvailability:
        operative = operational_status == "Operative"
        if evse is None:
            ids = [0]
        else:
            ids = self._connector_ids(evse["id"], evse.get("connector_id"))
            if not ids:
                return call_result.ChangeAvailability(status="Rejected")
        answers = {self.twin.handle_change_availability(cid, operative) for cid in ids}
        status = next(s for s in ("Rejected", "Scheduled", "Accepted") if s in answers)
        return call_result.ChangeAvailability(status=status)

    @on(Action.reset)
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> call_result.Reset:
        twin = self.twin
        if evse_id is not None:
            ids = self._connector_ids(evse_id)
            if not ids:
                return call_result.Reset(status="Rejected")
            if type == "OnIdle" and any(twin.connector(c).transaction for c in ids):
                if self._evse_resets_when_idle is None:
                    self._evse_resets_when_idle = set()
                self._evse_resets_when_idle.add(evse_id)
                return call_result.Reset(status="Scheduled")
            self.after_answer(lambda: twin.reset_evse(evse_id, "ImmediateReset"))
            return call_result.Reset(status="Accepted")
        if type == "OnIdle" and any(c.transaction for c in twin.connectors()):
            self._reset_when_idle = True
            return call_result.Reset(status="Scheduled")
        self._reset_when_idle = False
        twin.handle_reset(type == "Immediate")
        return call_result.Reset(status="Accepted")

    @on(Action.unlock_connector)
    def on_unlock_connector(
        self, evse_id: int, connector_id: int, **_: Any
    ) -> call_result.UnlockConnector:
        ids = self._connector_ids(evse_id, connector_id)
        if not ids:
            return call_result.UnlockConnector(status="UnknownConnector")
        if self.twin.connector(ids[0]).transaction is not None:
            return call_result.UnlockConnector(status="OngoingAuthorizedTransaction")
        status = self.twin.handle_unlock(ids[0])
        return call_result.UnlockConnector(
            status="Unlocked" if status == "Unlocked" else "UnlockFailed"
        )

    # -- CSMS → twin: reservations ---------------------------------------------------------------

    @on(Action.reserve_now)
    def on_reserve_now(
        self,
        id: int,
        expiry_date_time: str,
        id_token: dict[str, Any],
        connector_type: str | None = None,
        evse_id: int | None = None,
        group_id_token: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.ReserveNow:
        rejected = call_result.ReserveNow(status="Rejected")
        expiry = parse_time(expiry_date_time)
        if expiry is None or expiry.tzinfo is None or self.value(_RESERVATION_ENABLED) != "true":
            return rejected
        if evse_id is None:
            return rejected
        candidates = [
            cid
            for cid in self._connector_ids(evse_id)
            if connector_type is None
            or self.twin.connector(cid).config.connector_type == connector_type
        ]
        if not candidates:
            return rejected
        status = self.twin.handle_reserve(
            candidates[0],
            expiry,
            id_token["id_token"],
            (group_id_token or {}).get("id_token"),
            id,
        )
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> call_result.CancelReservation:
        accepted = self.twin.handle_cancel_reservation(reservation_id)
        return call_result.CancelReservation(status="Accepted" if accepted else "Rejected")

    # -- CSMS → twin: smart charging ---------------------------------------------------------

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: Any, **_: Any
    ) -> call_result.SetChargingProfile:
        rejected = call_result.SetChargingProfile(status="Rejected")
        if self.value(_SMART_ENABLED) != "true":
            return rejected
        try:
            profile = ChargingProfile.from_ocpp201(plain(charging_profile))
        except (ValueError, TypeError) as error:
            logger.info("%s: SetChargingProfile rejected: %s", self.id, error)
            return rejected
        if profile.stack_level > int(self.value(_STACK_LEVEL)) or len(
            profile.schedule.periods
        ) > int(self.value(_PERIODS)):
            return rejected
        if profile.purpose == "TxProfile" and profile.transaction_id is None:
            return rejected
        connector_id = 0 if evse_id == 0 else self._profile_connector(evse_id)
        if connector_id is None:
            return rejected
        accepted = self.twin.handle_set_charging_profile(connector_id, profile)
        return call_result.SetChargingProfile(status="Accepted" if accepted else "Rejected")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        criteria = charging_profile_criteria or {}
        connector_ids: list[int | None] = [None]
        evse_id = criteria.get("evse_id")
        if evse_id is not None:
            connector_ids = [0] if evse_id == 0 else list(self._connector_ids(evse_id))
        removed = False
        for connector_id in connector_ids:
            removed |= self.twin.handle_clear_charging_profile(
                charging_profile_id,
                connector_id,
                criteria.get("charging_profile_purpose"),
                criteria.get("stack_level"),
            )
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on(Action.get_charging_profiles)
    def on_get_charging_profiles(
        self,
        request_id: int,
        charging_profile: dict[str, Any],
        evse_id: int | None = None,
        **_: Any,
    ) -> call_result.GetChargingProfiles:
        purpose = charging_profile.get("charging_profile_purpose")
        if purpose == "ChargingStationMaxProfile":
            purpose = "ChargePointMaxProfile"
        stack_level = charging_profile.get("stack_level")
        wanted_ids = charging_profile.get("charging_profile_id")
        sources = charging_profile.get("charging_limit_source")
        by_evse: dict[int, list[dict[str, Any]]] = {}
        if not sources or "CSO" in sources:
            for connector_id, profile in self.twin.profiles.profiles():
                owner = 0 if connector_id == 0 else self._evse_of(connector_id)[0]
                if (
                    (evse_id is not None and owner != evse_id)
                    or (purpose is not None and profile.purpose != purpose)
                    or (stack_level is not None and profile.stack_level != stack_level)
                    or (wanted_ids and profile.id not in wanted_ids)
                ):
                    continue
                by_evse.setdefault(owner, []).append(profile.to_ocpp201())
        if not by_evse:
            return call_result.GetChargingProfiles(status="NoProfiles")
        self.after_answer(lambda: self.twin.spawn(self._report_profiles(request_id, by_evse)))
        return call_result.GetChargingProfiles(status="Accepted")

    async def _report_profiles(self, request_id: int, by_evse: dict[int, list[Any]]) -> None:
        parts = sorted(by_evse.items())
        for n, (evse_id, profiles) in enumerate(parts):
            await self._call(
                "ReportChargingProfiles",
                {
                    "requestId": request_id,
                    "chargingLimitSource": "CSO",
                    "chargingProfile": profiles,
                    "evseId": evse_id,
                    **({"tbc": True} if n < len(parts) - 1 else {}),
                },
            )

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **_: Any
    ) -> call_result.GetCompositeSchedule:
        connector_id = 0 if evse_id == 0 else self._profile_connector(evse_id)
        schedule = None
        if connector_id is not None:
            unit = {"A": "A", "W": "W"}.get(charging_rate_unit or "")
            schedule = self.twin.handle_composite_schedule(connector_id, duration, unit)
        if schedule is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        return call_result.GetCompositeSchedule(
            status="Accepted", schedule=schedule.to_ocpp201(evse_id)
        )

    # -- CSMS → twin: device model -----------------------------------------------------------------

    @on(Action.get_variables)
    def on_get_variables(
        self, get_variable_data: list[dict[str, Any]], **_: Any
    ) -> call_result.GetVariables:
        if len(get_variable_data) > int(self.value(_GET_ITEMS)):
            raise OccurrenceConstraintViolationError(
                details={"cause": f"at most {self.value(_GET_ITEMS)} variables per request"}
            )
        results = []
        for item in get_variable_data:
            attribute = item.get("attribute_type") or "Actual"
            status, value = self.model.get(
                item["component"], item["variable"], attribute, self._live
            )
            result: dict[str, Any] = {
                "attribute_status": status,
                "attribute_type": attribute,
                "component": item["component"],
                "variable": item["variable"],
            }
            if value is not None:
                result["attribute_value"] = value
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(
        self, set_variable_data: list[dict[str, Any]], **_: Any
    ) -> call_result.SetVariables:
        if len(set_variable_data) > int(self.value(_SET_ITEMS)):
            raise OccurrenceConstraintViolationError(
                details={"cause": f"at most {self.value(_SET_ITEMS)} variables per request"}
            )
        results = []
        changed: set[str] = set()
        for item in set_variable_data:
            attribute = item.get("attribute_type") or "Actual"
            status, address, reason = self.model.set(
                item["component"], item["variable"], attribute, str(item["attribute_value"])
            )
            result: dict[str, Any] = {
                "attribute_status": status,
                "attribute_type": attribute,
                "component": item["component"],
                "variable": item["variable"],
            }
            if reason is not None:
                result["attribute_status_info"] = {"reason_code": reason}
            results.append(result)
            if status == "Accepted" and address is not None:
                self._apply(address.variable)
                changed.add(address.key)
        if changed:
            if changed & {Address(_ALIGNED_INTERVAL).key, Address(_ALIGNED_ENABLED).key}:
                self._restart_aligned()
            if Address(_CACHE_ENABLED).key in changed and self.value(_CACHE_ENABLED) == "false":
                self.twin.authorizer.clear_cache()
            self.twin.settings_changed(
                heartbeat="OCPPCommCtrlr/HeartbeatInterval" in changed,
                metering="SampledDataCtrlr/TxUpdatedInterval" in changed,
            )
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.get_base_report)
    def on_get_base_report(
        self, request_id: int, report_base: str, **_: Any
    ) -> call_result.GetBaseReport:
        data = self.model.report(report_base, self._live)  # type: ignore[arg-type]
        if not data:
            return call_result.GetBaseReport(status="EmptyResultSet")
        generated_at = format_time(self.twin.now())
        self.after_answer(
            lambda: self.twin.spawn(self._send_report(request_id, generated_at, data))
        )
        return call_result.GetBaseReport(status="Accepted")

    @on(Action.get_report)
    def on_get_report(
        self,
        request_id: int,
        component_variable: list[dict[str, Any]] | None = None,
        component_criteria: list[str] | None = None,
        **_: Any,
    ) -> call_result.GetReport:
        """B08: the variables that match the filters; more componentVariable entries
        than ItemsPerMessage.GetReport is a CALLERROR (B08.FR.17)."""
        if len(component_variable or ()) > int(self.value(_REPORT_ITEMS)):
            raise OccurrenceConstraintViolationError(
                details={"cause": f"at most {self.value(_REPORT_ITEMS)} componentVariable items"}
            )
        data = self.model.custom_report(component_variable, component_criteria, self._live)
        if not data:
            return call_result.GetReport(status="EmptyResultSet")
        generated_at = format_time(self.twin.now())
        self.after_answer(
            lambda: self.twin.spawn(self._send_report(request_id, generated_at, data))
        )
        return call_result.GetReport(status="Accepted")

    async def _send_report(
        self, request_id: int, generated_at: str, data: list[dict[str, Any]]
    ) -> None:
        size = REPORT_ITEMS_PER_PART
        parts = [data[i : i + size] for i in range(0, len(data), size)]
        for seq_no, part in enumerate(parts):
            await self._call(
                "NotifyReport",
                {
                    "requestId": request_id,
                    "generatedAt": generated_at,
                    "seqNo": seq_no,
                    "reportData": part,
                    **({"tbc": True} if seq_no < len(parts) - 1 else {}),
                },
            )

    # -- CSMS → twin: display messages --------------------------------------------------------

    def _transaction_ongoing(self, transaction_id: str) -> bool:
        tx = self.twin.find_transaction(transaction_id)
        return tx is not None and not tx.ended

    def display_messages(self) -> DisplayMessages:
        """The twin's display messages, without those expired or whose transaction
        has ended (their removal is saved)."""
        if self._display is None:
            self._display = DisplayMessages()
        elif self._display.prune(self.twin.now(), self._transaction_ongoing):
            self.twin.mark_changed()
        return self._display

    def shown_messages(self) -> list[dict[str, Any]]:
        """The MessageInfoType of each message the display shows now, first first."""
        twin = self.twin
        statuses = {twin.status_of(0)[0]} | {c.status for c in twin.connectors()}
        if "Faulted" in statuses:
            state = "Faulted"
        elif twin.status_of(0)[0] == "Unavailable" or statuses == {"Unavailable"}:
            state = "Unavailable"
        elif "Charging" in statuses:
            state = "Charging"
        else:
            state = "Idle"
        return [m.to_wire() for m in self.display_messages().shown(twin.now(), state)]

    @on(Action.set_display_message)
    def on_set_display_message(
        self, message: dict[str, Any], **_: Any
    ) -> call_result.SetDisplayMessage:
        if self.value(_DISPLAY_ENABLED) != "true":
            return call_result.SetDisplayMessage(status="Rejected")
        try:
            parsed = DisplayMessage.from_wire(message)
        except (KeyError, TypeError, ValueError) as error:
            logger.info("%s: SetDisplayMessage rejected: %s", self.id, error)
            return call_result.SetDisplayMessage(status="Rejected")
        status = self.display_messages().set(
            parsed,
            formats=typed(_DISPLAY_FORMATS, self.value(_DISPLAY_FORMATS)),
            priorities=typed(_DISPLAY_PRIORITIES, self.value(_DISPLAY_PRIORITIES)),
            capacity=int(_DISPLAY_COUNT.max_limit or 0),
            transaction_ongoing=self._transaction_ongoing,
        )
        if status == "Accepted":
            self.twin.mark_changed()
        return call_result.SetDisplayMessage(status=status)

    @on(Action.get_display_messages)
    def on_get_display_messages(
        self,
        request_id: int,
        id: list[int] | None = None,
        priority: str | None = None,
        state: str | None = None,
        **_: Any,
    ) -> call_result.GetDisplayMessages:
        found = self.display_messages().find(id, priority, state)
        if not found:
            return call_result.GetDisplayMessages(status="Unknown")
        infos = [m.to_wire() for m in found]
        self.after_answer(lambda: self.twin.spawn(self._send_display_messages(request_id, infos)))
        return call_result.GetDisplayMessages(status="Accepted")

    async def _send_display_messages(self, request_id: int, infos: list[dict[str, Any]]) -> None:
        size = DISPLAY_MESSAGES_PER_PART
        parts = [infos[i : i + size] for i in range(0, len(infos), size)]
        for n, part in enumerate(parts):
            await self._call(
                "NotifyDisplayMessages",
                {
                    "requestId": request_id,
                    "messageInfo": part,
                    **({"tbc": True} if n < len(parts) - 1 else {}),
                },
            )

    @on(Action.clear_display_message)
    def on_clear_display_message(self, id: int, **_: Any) -> call_result.ClearDisplayMessage:
        if not self.display_messages().clear(id):
            return call_result.ClearDisplayMessage(status="Unknown")
        self.twin.mark_changed()
        return call_result.ClearDisplayMessage(status="Accepted")

    # -- CSMS → twin: monitoring ---------------------------------------------------------------

    def _hard_wired(self) -> list[Monitor]:
        """The monitors behind the notifications :meth:`_notify_event` sends; their
        ids are 1 (the station's Problem) and 1 + each connector's id."""
        monitors = [
            Monitor(
                1,
                "ChargingStation/Problem",
                "Delta",
                0,
                HARD_WIRED_SEVERITY,
                kind="HardWiredMonitor",
            )
        ]
        for connector in self.twin.connectors():
            key = f"Connector@{connector.evse_id}.{connector.config.evse_connector_id}"
            monitors.append(
                Monitor(
                    1 + connector.connector_id,
                    f"{key}/AvailabilityState",
                    "Delta",
                    0,
                    HARD_WIRED_SEVERITY,
                    kind="HardWiredMonitor",
                )
            )
        return monitors

    def monitoring(self) -> Monitoring:
        if self._monitoring is None:
            self._monitoring = Monitoring()
        return self._monitoring

    def _check_size(self, items: int, items_var: Any, data: Any, bytes_var: Any) -> None:
        """CALLERROR for a request with more items or bytes than the station takes
        (the size is that of the request's data as JSON)."""
        if items > int(self.value(items_var)):
            raise OccurrenceConstraintViolationError(
                details={"cause": f"at most {self.value(items_var)} items per request"}
            )
        if len(json.dumps(plain(data))) > int(self.value(bytes_var)):
            raise FormatViolationError(
                details={"cause": f"at most {self.value(bytes_var)} bytes per request"}
            )

    @on(Action.set_variable_monitoring)
    def on_set_variable_monitoring(
        self, set_monitoring_data: list[dict[str, Any]], **_: Any
    ) -> call_result.SetVariableMonitoring:
        self._check_size(
            len(set_monitoring_data),
            _SET_MONITORING_ITEMS,
            set_monitoring_data,
            _SET_MONITORING_BYTES,
        )
        enabled = self.value(_MONITORING_ENABLED) == "true"
        hard_wired = {m.id for m in self._hard_wired()}
        now = self.twin.now().timestamp()
        results = []
        for item in set_monitoring_data:
            monitor_id = None
            found = self.model.find(item["component"], item["variable"])
            if isinstance(found, str):
                status = found
            elif not enabled or not 0 <= item["severity"] <= 9:
                status = "Rejected"
            elif found.variable.mutability == "WriteOnly":
                status = "UnsupportedMonitorType"
            else:
                status, monitor_id = self.monitoring().set(
                    found.key,
                    found.variable.data_type in ("integer", "decimal"),
                    item["type"],
                    float(item["value"]),
                    item["severity"],
                    bool(item.get("transaction", False)),
                    item.get("id"),
                    hard_wired,
                    now,
                )
            result: dict[str, Any] = {
                "status": status,
                "type": item["type"],
                "severity": item["severity"],
                "component": item["component"],
                "variable": item["variable"],
            }
            if monitor_id is not None:
                result["id"] = monitor_id
            results.append(result)
        if any(r["status"] == "Accepted" for r in results):
            self.twin.mark_changed()
            self.after_answer(self._monitors_changed)
        return call_result.SetVariableMonitoring(set_monitoring_result=results)

    @on(Action.clear_variable_monitoring)
    def on_clear_variable_monitoring(
        self, id: list[int], **_: Any
    ) -> call_result.ClearVariableMonitoring:
        self._check_size(len(id), _CLEAR_MONITORING_ITEMS, id, _CLEAR_MONITORING_BYTES)
        hard_wired = {m.id for m in self._hard_wired()}
        results = [
            {"status": self.monitoring().clear(monitor_id, hard_wired), "id": monitor_id}
            for monitor_id in id
        ]
        if any(r["status"] == "Accepted" for r in results):
            self.twin.mark_changed()
            self.after_answer(self._monitors_changed)
        return call_result.ClearVariableMonitoring(clear_monitoring_result=results)

    @on(Action.set_monitoring_base)
    def on_set_monitoring_base(
        self, monitoring_base: str, **_: Any
    ) -> call_result.SetMonitoringBase:
        if monitoring_base != "All" and self._monitoring:
            self._monitoring.clear_custom()
            self.after_answer(self._monitors_changed)
        self.model.load({Address(_MONITORING_BASE).key: monitoring_base})
        self.twin.mark_changed()
        self.twin.settings_changed()
        return call_result.SetMonitoringBase(status="Accepted")

    @on(Action.set_monitoring_level)
    def on_set_monitoring_level(self, severity: int, **_: Any) -> call_result.SetMonitoringLevel:
        if not 0 <= severity <= 9:
            return call_result.SetMonitoringLevel(status="Rejected")
        self.model.load({Address(_MONITORING_LEVEL).key: str(severity)})
        self.twin.settings_changed()
        return call_result.SetMonitoringLevel(status="Accepted")

    @on(Action.get_monitoring_report)
    def on_get_monitoring_report(
        self,
        request_id: int,
        component_variable: list[dict[str, Any]] | None = None,
        monitoring_criteria: list[str] | None = None,
        **_: Any,
    ) -> call_result.GetMonitoringReport:
        by_key: dict[str, tuple[Address, list[dict[str, Any]]]] = {}
        for monitor in [
            *self._hard_wired(),
            *(self._monitoring.monitors() if self._monitoring else ()),
        ]:
            address = parse_key(self.model.evses, monitor.key)
            if address is None or not Monitoring.matches(monitor, monitoring_criteria):
                continue
            if component_variable and not any(selects(f, address) for f in component_variable):
                continue
            by_key.setdefault(monitor.key, (address, []))[1].append(monitor.to_wire())
        if not by_key:
            return call_result.GetMonitoringReport(status="EmptyResultSet")
        data = [
            {
                "component": address.component_json(),
                "variable": address.variable_json(),
                "variableMonitoring": monitors,
            }
            for address, monitors in by_key.values()
        ]
        generated_at = format_time(self.twin.now())
        self.after_answer(
            lambda: self.twin.spawn(self._send_monitoring_report(request_id, generated_at, data))
        )
        return call_result.GetMonitoringReport(status="Accepted")

    async def _send_monitoring_report(
        self, request_id: int, generated_at: str, data: list[dict[str, Any]]
    ) -> None:
        size = MONITORS_PER_PART
        parts = [data[i : i + size] for i in range(0, len(data), size)]
        for seq_no, part in enumerate(parts):
            await self._call(
                "NotifyMonitoringReport",
                {
                    "requestId": request_id,
                    "generatedAt": generated_at,
                    "seqNo": seq_no,
                    "monitor": part,
                    **({"tbc": True} if seq_no < len(parts) - 1 else {}),
                },
            )

    # -- monitors at work --------------------------------------------------------------------

    def _monitors_changed(self) -> None:
        """Monitors were added or removed: check them now, and (re)start the loop."""
        self._restart_monitoring()
        if self._monitoring and self.twin.online:
            self.twin.spawn(self.check_monitors())

    def _restart_monitoring(self) -> None:
        """Evaluate custom monitors while connected and there are any; twins without
        monitors pay for no task."""
        if self._monitor_task is not None:
            self._monitor_task.cancel()
            self._monitor_task = None
        if self._connection is not None and self._monitoring:
            self._monitor_task = asyncio.ensure_future(self._monitoring_loop())

    async def _monitoring_loop(self) -> None:
        twin = self.twin
        step = max(1.0, twin.config.speed * MONITOR_CHECK_SECONDS)
        while True:
            wait = step
            if twin.online:
                try:
                    await self.check_monitors()
                except (ConnectionLost, CallFailed) as error:
                    logger.info("%s: monitor event not delivered: %s", self.id, error)
                due = self._monitoring.next_due() if self._monitoring else None
                if due is not None:
                    wait = min(step, max(due - twin.now().timestamp(), 0.001))
            await twin.clock.sleep(wait)

    def _read_monitored(self, monitor: Monitor) -> tuple[str, bool] | None:
        address = parse_key(self.model.evses, monitor.key)
        if address is None:
            return None
        active = not monitor.transaction or self._transaction_on(address.evse_id) is not None
        return self.model.value(address, self._live), active

    def _transaction_on(self, evse_id: int | None) -> Any:
        """The transaction running on an EVSE (on any, for None), if one is."""
        for connector in self.twin.connectors():
            if connector.transaction is not None and evse_id in (None, connector.evse_id):
                return connector.transaction
        return None

    async def check_monitors(self) -> None:
        """Evaluate the custom monitors now and send what they report."""
        monitoring = self._monitoring
        if not monitoring or self.value(_MONITORING_ENABLED) != "true":
            return
        fired, flipped = monitoring.evaluate(self.twin.now().timestamp(), self._read_monitored)
        if flipped:
            self.twin.mark_changed()
        elif fired:
            self.twin.mark_progressed()
        level = int(self.value(_MONITORING_LEVEL))
        events = [self._monitor_event(f) for f in fired if f.monitor.severity <= level]
        if events:
            await self._send_events(events)

    def _monitor_event(self, fired: Fired) -> dict[str, Any]:
        monitor = fired.monitor
        address = parse_key(self.model.evses, monitor.key)
        assert address is not None
        event: dict[str, Any] = {
            "eventId": self._next_event_id(),
            "timestamp": format_time(self.twin.now()),
            "trigger": fired.trigger,
            "actualValue": fired.actual[:MAX_VALUE_LENGTH],
            "eventNotificationType": monitor.kind,
            "component": address.component_json(),
            "variable": address.variable_json(),
            "variableMonitoringId": monitor.id,
        }
        if fired.cleared:
            event["cleared"] = True
        if address.evse_id is not None:
            tx = self._transaction_on(address.evse_id)
            if tx is not None:
                event["transactionId"] = tx.ref
        return event

    # -- CSMS → twin: local authorisation ---------------------------------------------------------

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        if self.value(_CACHE_ENABLED) != "true":
            return call_result.ClearCache(status="Rejected")
        self.twin.authorizer.clear_cache()
        return call_result.ClearCache(status="Accepted")

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(version_number=self.twin.authorizer.list_version)

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.SendLocalList:
        entries = local_authorization_list or []
        if len(entries) > int(self.value(_LIST_ITEMS)):
            return call_result.SendLocalList(status="Failed")
        parsed = [
            LocalListEntry(
                entry["id_token"]["id_token"],
                _id_tag_info(entry["id_token_info"]) if entry.get("id_token_info") else None,
            )
            for entry in entries
        ]
        status = self.twin.authorizer.update_list(version_number, update_type, parsed)
        return call_result.SendLocalList(status=status)

    # -- CSMS → twin: firmware and logs (worker.twin.firmware) --------------------------------

    @on(Action.update_firmware)
    def on_update_firmware(
        self,
        request_id: int,
        firmware: dict[str, Any],
        retries: int | None = None,
        retry_interval: int | None = None,
        **_: Any,
    ) -> call_result.UpdateFirmware:
        certificate = firmware.get("signing_certificate")
        if certificate is not None and not certificate_well_formed(certificate):
            self.reject_signing_certificate()
            return call_result.UpdateFirmware(
                status="InvalidCertificate",
                status_info={"reasonCode": "InvalidCertificate"},
            )
        install = firmware.get("install_date_time")
        update = FirmwareUpdate(
            "v201",
            firmware["location"],
            required_time("retrieveDateTime", firmware["retrieve_date_time"]),
            request_id=request_id,
            install_at=required_time("installDateTime", install) if install else None,
            retries=max(retries or 0, 0),
            retry_interval=max(retry_interval or 0, 0),
            signature=firmware.get("signature"),
            signing_certificate=certificate,
        )
        replaced = self.firmware().start_update(update)
        return call_result.UpdateFirmware(status="AcceptedCanceled" if replaced else "Accepted")

    @on(Action.get_log)
    def on_get_log(
        self,
        log: dict[str, Any],
        log_type: str,
        request_id: int,
        retries: int | None = None,
        retry_interval: int | None = None,
        **_: Any,
    ) -> call_result.GetLog:
        file_name, replaced = self.start_log_upload(
            log, log_type, request_id, retries, retry_interval
        )
        return call_result.GetLog(
            status="AcceptedCanceled" if replaced else "Accepted", filename=file_name
        )

    async def send_firmware_status(self, update: FirmwareUpdate, status: str) -> None:
        await self._call(
            "FirmwareStatusNotification", {"status": status, "requestId": update.request_id}
        )

    async def send_upload_status(self, upload: LogUpload, status: str) -> None:
        payload = {"status": UPLOAD_LOG_STATUS.get(status, status), "requestId": upload.request_id}
        await self._call("LogStatusNotification", payload)

    async def send_triggered_firmware_status(self) -> None:
        """The update's current status with its requestId, or Idle (L01.FR.25)."""
        simulator = self._firmware
        update = simulator.update if simulator is not None else None
        status = self.firmware_status()
        if update is None or status == "Idle":
            await self._call("FirmwareStatusNotification", {"status": "Idle"})
        else:
            await self.send_firmware_status(update, status)

    async def send_triggered_log_status(self) -> None:
        """Uploading with the GetLog's requestId during its upload, else Idle (N01.FR.18)."""
        upload = self.upload_in_progress("log")
        if upload is None:
            await self._call("LogStatusNotification", {"status": "Idle"})
        else:
            await self.send_upload_status(upload, "Uploading")

    # -- CSMS → twin: the rest ------------------------------------------------------------------

    @on(Action.trigger_message)
    def on_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        twin = self.twin
        rejected = call_result.TriggerMessage(status="Rejected")
        if evse is not None:
            connector_ids = self._connector_ids(evse["id"], evse.get("connector_id"))
            if not connector_ids:
                return rejected
        else:
            connector_ids = [c.connector_id for c in twin.connectors()]
        send: Callable[[], Any]
        if requested_message == "BootNotification":
            if twin.online:
                return rejected
            send = twin.trigger_boot
        elif requested_message == "Heartbeat":
            send = twin.send_heartbeat
        elif requested_message == "StatusNotification":
            send = lambda: self._send_statuses(connector_ids)  # noqa: E731
        elif requested_message == "MeterValues":
            send = lambda: self._send_triggered_meter_values(connector_ids)  # noqa: E731
        elif requested_message == "TransactionEvent":
            running = [
                tx
                for tx in (twin.connector(cid).transaction for cid in connector_ids)
                if tx is not None and self._tx and tx.ref in self._tx
            ]
            if not running:
                return rejected
            send = lambda: self._send_triggered_transaction_events(running)  # noqa: E731
        elif requested_message == "SignChargingStationCertificate":
            security.request_signing(self, "ChargingStationCertificate")
            return call_result.TriggerMessage(status="Accepted")
        elif requested_message == "SignV2GCertificate":
            security.request_signing(self, "V2GCertificate")
            return call_result.TriggerMessage(status="Accepted")
        elif requested_message == "FirmwareStatusNotification":
            send = self.send_triggered_firmware_status
        elif requested_message == "LogStatusNotification":
            send = self.send_triggered_log_status
        else:
            return call_result.TriggerMessage(status="NotImplemented")
        self.after_answer(lambda: twin.spawn(send()))
        return call_result.TriggerMessage(status="Accepted")

    async def _send_statuses(self, connector_ids: list[int]) -> None:
        for cid in connector_ids:
            status, error_code, info = self.twin.status_of(cid)
            await self._send_status(cid, status, error_code, info, force=True)

    async def _send_triggered_meter_values(self, connector_ids: list[int]) -> None:
        for cid in connector_ids:
            connector = self.twin.connector(cid)
            await self.send_meter_values(self.twin.current_sample(connector, "Trigger"), None)

    async def _send_triggered_transaction_events(self, transactions: list[Any]) -> None:
        for tx in transactions:
            if tx.ended:
                continue
            connector = self.twin.connector(tx.connector_id)
            sample = self.twin.current_sample(connector, "Trigger")
            await self._transaction_event(
                tx,
                "Updated",
                "Trigger",
                sample.at,
                meter=self.meter_value(sample, self.settings.measurands),
                queued=False,
            )

    @on(Action.data_transfer)
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, **_: Any
    ) -> call_result.DataTransfer:
        if vendor_id != self.twin.config.vendor:
            return call_result.DataTransfer(status="UnknownVendorId")
        if message_id is not None:
            return call_result.DataTransfer(status="UnknownMessageId")
        return call_result.DataTransfer(status="Accepted")

    # -- security: certificates (2.0.1 A02, A03, M) ------------------------------------------

    def organization_name(self) -> str:
        return self.value(_ORGANIZATION)

    async def send_sign_certificate(self, csr: str, use: str) -> str:
        result = await self._call("SignCertificate", {"csr": csr, "certificateType": use})
        return str(result["status"])

    async def send_get_certificate_status(
        self, ocsp_request_data: dict[str, Any]
    ) -> dict[str, Any]:
        """GetCertificateStatus (M06): the CSMS's answer (status, ocspResult)."""
        return await self._call("GetCertificateStatus", {"ocspRequestData": ocsp_request_data})

    async def send_get_15118_ev_certificate(
        self, schema_version: str, action: str, exi_request: str
    ) -> dict[str, Any]:
        """Get15118EVCertificate (M01/M02): the CSMS's answer (status, exiResponse)."""
        return await self._call(
            "Get15118EVCertificate",
            {"iso15118SchemaVersion": schema_version, "action": action, "exiRequest": exi_request},
        )

    @on(Action.install_certificate)
    def on_install_certificate(
        self, certificate_type: str, certificate: str, **_: Any
    ) -> call_result.InstallCertificate:
        status = security.install_certificate(self, certificate_type, certificate)
        return call_result.InstallCertificate(status=status)

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(
        self, certificate_type: list[str] | None = None, **_: Any
    ) -> call_result.GetInstalledCertificateIds:
        store = self.twin.certificates
        chains = [
            {"certificateType": use, "certificateHashData": hash_data}
            for use, hash_data in store.installed_ids(certificate_type)
        ]
        if certificate_type is None or "V2GCertificateChain" in certificate_type:
            v2g = store.own_chain_ids("V2GCertificate")
            if v2g:
                chain: dict[str, Any] = {
                    "certificateType": "V2GCertificateChain",
                    "certificateHashData": v2g[0],
                }
                if len(v2g) > 1:
                    chain["childCertificateHashData"] = v2g[1:]
                chains.append(chain)
        if not chains:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(
            status="Accepted", certificate_hash_data_chain=chains
        )

    @on(Action.delete_certificate)
    def on_delete_certificate(
        self, certificate_hash_data: dict[str, Any], **_: Any
    ) -> call_result.DeleteCertificate:
        wanted = security.snake_hash_data(certificate_hash_data)
        return call_result.DeleteCertificate(status=security.delete_certificate(self, wanted))

    @on(Action.certificate_signed)
    def on_certificate_signed(
        self, certificate_chain: str, certificate_type: str | None = None, **_: Any
    ) -> call_result.CertificateSigned:
        use = (
            "V2GCertificate"
            if certificate_type == "V2GCertificate"
            else "ChargingStationCertificate"
        )
        status = security.certificate_signed(self, certificate_chain, use)
        return call_result.CertificateSigned(status=status)


__all__ = ["CONNECTOR_STATUS", "Ocpp201Adapter"]

"""The OCPP 1.6 adapter: the twin's core on the wire as OCPP-J 1.6.

:class:`Ocpp16Adapter` is an ``ocpp.v16.ChargePoint`` (which owns framing, the
call lock and schema validation) plus the :class:`ProtocolAdapter` contract:
``send_*`` for messages the charge point starts, ``@on`` handlers for the CSMS's
operations, and the 1.6 configuration keys (:data:`KEYS`).

Choices worth knowing:

* Reconnecting does not boot again: OCPP 1.6 asks for a BootNotification when the
  charge point (re)boots, not when its websocket reconnects. After a reconnect
  the twin sends StatusNotifications for connector 0 and every connector, then
  the queued transaction messages. A Reset does boot again.
* RemoteStartTransaction starts on the connector's vehicle (without connectorId:
  the first free connector with one). With no vehicle plugged in, it is Accepted
  while ConnectionTimeOut is above 0: the connector is Preparing until a vehicle
  is plugged in or the timeout cancels it (:mod:`worker.twin.pending_start`).
  The Authorize (AuthorizeRemoteTxRequests) and the StartTransaction follow the
  answer.
* MinimumStatusDuration: a connector status is reported once it has held that
  long (:mod:`worker.twin.status_report`). MaxEnergyOnInvalidId: an id tag found
  invalid in StartTransaction.conf charges on up to that energy before
  StopTransactionOnInvalidId applies (the StopTransaction's reason DeAuthorized).
* Clock-aligned data (ClockAlignedDataInterval > 0): on each interval boundary
  (counted from midnight UTC) while connected, every connector sends a
  Sample.Clock MeterValues with the MeterValuesAlignedData measurands, queued
  with its transactionId while a transaction runs. With StopTxnAlignedData, the
  values taken during a transaction go in its StopTransaction's transactionData;
  they are kept in memory only (a worker restart loses them).
* StopTransactionOnEVSideDisconnect false: unplugging leaves the transaction
  running (SuspendedEV, nothing drawn) until it is stopped or a vehicle is
  plugged back in.
* Configuration keys that are stored and reported but change nothing in the
  simulation: BlinkRepeat, LightIntensity, ResetRetries,
  UnlockConnectorOnEVSideDisconnect.
* CALLERROR codes use the 1.6 words (FormationViolation, OccurenceConstraint-
  Violation). A frame whose message id cannot be read is answered with message
  id ``"-1"`` (the rule of OCPP 2.0.1, which 1.6 leaves open). An action that
  is unknown, or known but not handled here,
  is answered NotImplemented.
* Security Whitepaper (edition 3): certificate management (InstallCertificate,
  GetInstalledCertificateIds, DeleteCertificate, SignCertificate / CertificateSigned,
  ExtendedTriggerMessage) through :mod:`worker.twin.security`; the Whitepaper's
  CentralSystemRootCertificate is the store's CSMSRootCertificate.
* Firmware updates, diagnostics and logs are simulated by :mod:`worker.twin.firmware`;
  the adapter builds the 1.6 messages (FirmwareStatusNotification for UpdateFirmware,
  SignedFirmwareStatusNotification for SignedUpdateFirmware).
* Schema validation of what the CSMS sends (its CALLs, and the answers whose
  content the twin uses: see ``validated_answers``) runs in the event loop. The
  twin's own CALLs are built as camelCase dicts and checked against the 1.6
  request schemas before they go out (:mod:`worker.twin.wire`, which holds the
  OCPP-J machinery both versions share).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

from worker.twin import security
from worker.twin.authorization import LocalListEntry
from worker.twin.certificates import MAX_CHAIN_SIZE, MAX_INSTALLED
from worker.twin.firmware import (
    UPLOAD_LOG_STATUS,
    FirmwareAdapterMixin,
    FirmwareUpdate,
    LogUpload,
    certificate_well_formed,
    diagnostics_file_name,
    required_time,
)
from worker.twin.model import QueuedMessage
from worker.twin.protocol import (
    MEASURAND_UNITS,
    BootAnswer,
    IdTagInfo,
    MeterSample,
    SessionSettings,
)
from worker.twin.security_events import OCPP16_NAMES
from worker.twin.smart_charging import ChargingProfile, format_time
from worker.twin.wire import OcppJAdapter, parse_time, plain

logger = logging.getLogger(__name__)

# -- configuration keys ---------------------------------------------------------------

KeyKind = Literal["bool", "int", "csl", "str"]

_MEASURANDS = frozenset(MEASURAND_UNITS)
_PROFILES = frozenset(
    {
        "Core",
        "LocalAuthListManagement",
        "Reservation",
        "SmartCharging",
        "RemoteTrigger",
        "FirmwareManagement",
    }
)


@dataclass(frozen=True, slots=True)
class KeyDef:
    """One 1.6 configuration key: default, read-only flag and what values are valid."""

    default: str
    readonly: bool = False
    kind: KeyKind = "str"
    minimum: int = 0
    allowed: frozenset[str] | None = None
    max_items: int = 0


_DEFAULT_SAMPLED = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"

#: Core, LocalAuthListManagement, Reservation, SmartCharging and RemoteTrigger keys
#: (OCPP 1.6 §9). Shared by every twin; a twin stores only its non-default values.
KEYS: dict[str, KeyDef] = {
    "AllowOfflineTxForUnknownId": KeyDef("false", kind="bool"),
    "AuthorizationCacheEnabled": KeyDef("true", kind="bool"),
    "AuthorizeRemoteTxRequests": KeyDef("true", kind="bool"),
    "BlinkRepeat": KeyDef("0", kind="int"),
    "ClockAlignedDataInterval": KeyDef("0", kind="int"),
    "ConnectionTimeOut": KeyDef("60", kind="int"),
    "ConnectorPhaseRotation": KeyDef("0.RST", kind="csl"),
    "ConnectorPhaseRotationMaxLength": KeyDef("10", readonly=True, kind="int"),
    "GetConfigurationMaxKeys": KeyDef("100", readonly=True, kind="int"),
    "HeartbeatInterval": KeyDef("300", kind="int"),
    "LightIntensity": KeyDef("0", kind="int"),
    "LocalAuthorizeOffline": KeyDef("true", kind="bool"),
    "LocalPreAuthorize": KeyDef("false", kind="bool"),
    "MaxEnergyOnInvalidId": KeyDef("0", kind="int"),
    "MeterValuesAlignedData": KeyDef(
        "Energy.Active.Import.Register", kind="csl", allowed=_MEASURANDS, max_items=7
    ),
    "MeterValuesAlignedDataMaxLength": KeyDef("7", readonly=True, kind="int"),
    "MeterValuesSampledData": KeyDef(
        _DEFAULT_SAMPLED, kind="csl", allowed=_MEASURANDS, max_items=7
    ),
    "MeterValuesSampledDataMaxLength": KeyDef("7", readonly=True, kind="int"),
    "MeterValueSampleInterval": KeyDef("60", kind="int"),
    "MinimumStatusDuration": KeyDef("0", kind="int"),
    "NumberOfConnectors": KeyDef("1", readonly=True, kind="int"),
    "ResetRetries": KeyDef("1", kind="int"),
    "StopTransactionOnEVSideDisconnect": KeyDef("true", kind="bool"),
    "StopTransactionOnInvalidId": KeyDef("true", kind="bool"),
    "StopTxnAlignedData": KeyDef("", kind="csl", allowed=_MEASURANDS, max_items=7),
    "StopTxnAlignedDataMaxLength": KeyDef("7", readonly=True, kind="int"),
    "StopTxnSampledData": KeyDef("", kind="csl", allowed=_MEASURANDS, max_items=7),
    "StopTxnSampledDataMaxLength": KeyDef("7", readonly=True, kind="int"),
    "SupportedFeatureProfiles": KeyDef(
        "Core,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
        readonly=True,
        kind="csl",
    ),
    "SupportedFeatureProfilesMaxLength": KeyDef("6", readonly=True, kind="int"),
    "TransactionMessageAttempts": KeyDef("3", kind="int", minimum=1),
    "TransactionMessageRetryInterval": KeyDef("60", kind="int"),
    "UnlockConnectorOnEVSideDisconnect": KeyDef("true", kind="bool"),
    "WebSocketPingInterval": KeyDef("0", kind="int"),
    "LocalAuthListEnabled": KeyDef("true", kind="bool"),
    "LocalAuthListMaxLength": KeyDef("1000", readonly=True, kind="int"),
    "SendLocalListMaxLength": KeyDef("100", readonly=True, kind="int"),
    "ReserveConnectorZeroSupported": KeyDef("false", readonly=True, kind="bool"),
    "ChargeProfileMaxStackLevel": KeyDef("10", readonly=True, kind="int"),
    "ChargingScheduleAllowedChargingRateUnit": KeyDef("Current,Power", readonly=True, kind="csl"),
    "ChargingScheduleMaxPeriods": KeyDef("24", readonly=True, kind="int"),
    "ConnectorSwitch3to1PhaseSupported": KeyDef("false", readonly=True, kind="bool"),
    "MaxChargingProfilesInstalled": KeyDef("10", readonly=True, kind="int"),
    # Security Whitepaper edition 3 (SecurityProfile follows from the connection).
    "AdditionalRootCertificateCheck": KeyDef("false", readonly=True, kind="bool"),
    "CertificateSignedMaxChainSize": KeyDef(str(MAX_CHAIN_SIZE), readonly=True, kind="int"),
    "CertificateStoreMaxLength": KeyDef(str(MAX_INSTALLED), readonly=True, kind="int"),
    "CpoName": KeyDef("ELU Twins"),
    "SecurityProfile": KeyDef("0", readonly=True, kind="int"),
}
_KEYS_BY_LOWER = {name.lower(): name for name in KEYS}

#: The core's stop reasons that 1.6 has no word for → its Reason.
_STOP_REASONS: dict[str, str] = {
    # MaxEnergyOnInvalidId delivered: ended because of StartTransaction.conf's status.
    "InvalidIdEnergyLimit": "DeAuthorized",
}

#: Keys the core acts on, and the setting each one feeds.
_SETTINGS: dict[str, str] = {
    "HeartbeatInterval": "heartbeat_interval",
    "MeterValueSampleInterval": "meter_value_sample_interval",
    "MeterValuesSampledData": "measurands",
    "AuthorizeRemoteTxRequests": "authorize_remote_tx_requests",
    "LocalAuthorizeOffline": "local_authorize_offline",
    "LocalPreAuthorize": "local_pre_authorize",
    "AuthorizationCacheEnabled": "authorization_cache_enabled",
    "LocalAuthListEnabled": "local_auth_list_enabled",
    "AllowOfflineTxForUnknownId": "allow_offline_tx_for_unknown_id",
    "StopTransactionOnEVSideDisconnect": "stop_transaction_on_ev_side_disconnect",
    "StopTransactionOnInvalidId": "stop_transaction_on_invalid_id",
    "TransactionMessageAttempts": "transaction_message_attempts",
    "TransactionMessageRetryInterval": "transaction_message_retry_interval",
    "WebSocketPingInterval": "websocket_ping_interval",
    "ConnectionTimeOut": "connection_timeout",
    "MinimumStatusDuration": "minimum_status_duration",
    "MaxEnergyOnInvalidId": "max_energy_on_invalid_id",
}


def validate_value(definition: KeyDef, value: str) -> str | None:
    """The value normalised, or None when it is not valid for this key."""
    if definition.kind == "bool":
        lowered = value.strip().lower()
        return lowered if lowered in ("true", "false") else None
    if definition.kind == "int":
        try:
            number = int(value.strip())
        except ValueError:
            return None
        return str(number) if number >= definition.minimum else None
    if definition.kind == "csl":
        items = [item.strip() for item in value.split(",") if item.strip()]
        if definition.allowed is not None and any(i not in definition.allowed for i in items):
            return None
        if definition.max_items and len(items) > definition.max_items:
            return None
        return ",".join(items)
    return value


def _typed(definition: KeyDef, value: str) -> Any:
    if definition.kind == "bool":
        return value == "true"
    if definition.kind == "int":
        return int(value)
    if definition.kind == "csl":
        return tuple(item for item in value.split(",") if item)
    return value


# -- messages ------------------------------------------------------------------------


def stored_value_problem(key: str, value: str, connector_count: int) -> str | None:
    """Why a value given for ``config.ocpp_configuration`` would not be taken, or None.

    Read-only keys may be given: that is how a twin models another charger's fixed
    settings (what its firmware would report). Not NumberOfConnectors, which the twin
    reports from its connectors (a value given would be silently ignored).
    """
    name = _KEYS_BY_LOWER.get(key.lower())
    if name is None:
        return "not an OCPP 1.6 configuration key this charge point has"
    if name == "NumberOfConnectors":
        return (
            f"{name} is read-only and follows from the charge point's connectors: "
            f"it reports {connector_count}"
        )
    if name == "SecurityProfile":
        return (
            f"{name} is read-only and follows from the connection: wss:// with a client "
            "certificate is 3, wss:// 2, a password 1"
        )
    if validate_value(KEYS[name], str(value)) is None:
        return f"{value!r} is not a valid value for {name}"
    return None


def _id_tag_info(data: Any) -> IdTagInfo:
    data = data or {}
    return IdTagInfo(
        status=str(data.get("status", "Invalid")),
        expiry_date=parse_time(data.get("expiry_date") or data.get("expiryDate")),
        parent_id_tag=data.get("parent_id_tag") or data.get("parentIdTag"),
    )


#: The statuses of 1.6 FirmwareStatusNotification (the security whitepaper's signed
#: update has more).
_PLAIN_FIRMWARE_STATUSES = frozenset(
    {
        "Downloaded",
        "DownloadFailed",
        "Downloading",
        "Idle",
        "InstallationFailed",
        "Installing",
        "Installed",
    }
)


class Ocpp16Adapter(FirmwareAdapterMixin, OcppJAdapter, ChargePoint):
    """OCPP 1.6J for one twin."""

    subprotocol: ClassVar[str] = "ocpp1.6"
    #: 1.6 spells two CALLERROR codes differently from 2.0.1 (which the library uses).
    error_codes: ClassVar[dict[str, str]] = {
        "FormatViolation": "FormationViolation",
        "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    }
    validated_answers: ClassVar[frozenset[str]] = frozenset(
        {
            "BootNotification",
            "Authorize",
            "StartTransaction",
            "StopTransaction",
            "DataTransfer",
            "SignCertificate",
        }
    )
    security_event_names: ClassVar[dict[str, str]] = OCPP16_NAMES
    #: StopTxnAlignedData values taken so far, by transaction ref; set on the
    #: instance only once a twin takes one, so the others pay nothing.
    _stop_aligned: dict[str, list[dict[str, Any]]] | None = None

    def __init__(self, twin: Any) -> None:
        self._init_wire(twin)
        self._values: dict[str, str] = {}
        self.settings = SessionSettings()
        for name, attribute in _SETTINGS.items():
            setattr(self.settings, attribute, _typed(KEYS[name], KEYS[name].default))
        self._load(twin.config.ocpp_configuration)

    # -- configuration -----------------------------------------------------------------

    def _load(self, stored: dict[str, str]) -> None:
        for key, value in stored.items():
            name = _KEYS_BY_LOWER.get(key.lower())
            if name is None:
                continue
            normalised = validate_value(KEYS[name], str(value))
            if normalised is None:
                logger.warning("%s: ignoring stored %s=%r (invalid)", self.id, name, value)
                continue
            self._set(name, normalised)

    def _set(self, name: str, value: str) -> None:
        definition = KEYS[name]
        if value == definition.default:
            self._values.pop(name, None)
        else:
            self._values[name] = value
        attribute = _SETTINGS.get(name)
        if attribute is not None:
            setattr(self.settings, attribute, _typed(definition, value))

    def value(self, name: str) -> str:
        if name == "NumberOfConnectors":
            return str(len(self.twin.connectors()))
        if name == "SecurityProfile":
            return str(security.security_profile(self.twin.config, self.twin.certificates))
        return self._values.get(name, KEYS[name].default)

    def _measurands(self, name: str) -> tuple[str, ...]:
        """The measurands a comma-separated-list key names."""
        return _typed(KEYS[name], self.value(name))

    def configuration_values(self) -> dict[str, str]:
        return dict(self._values)

    def heartbeat_interval_from_boot(self, interval: int) -> None:
        self._set("HeartbeatInterval", str(interval))

    # -- saved state ---------------------------------------------------------------------

    def save_state(self) -> dict[str, Any]:
        return {
            "stop_aligned": dict(self._stop_aligned or {}),
            "firmware": self.firmware_state(),
        }

    def restore_state(self, data: dict[str, Any]) -> None:
        self.restore_firmware_state(data.get("firmware"))
        stop_aligned = data.get("stop_aligned")
        if stop_aligned:
            self._stop_aligned = {ref: list(values) for ref, values in stop_aligned.items()}

    # -- twin → CSMS --------------------------------------------------------------------

    async def send_boot_notification(self, reason: str) -> BootAnswer:
        config = self.twin.config
        payload = {
            "chargePointVendor": config.vendor[:20],
            "chargePointModel": config.model[:20],
            "firmwareVersion": self.reported_firmware_version(config.firmware_version)[:50],
        }
        if config.serial_number:
            payload["chargePointSerialNumber"] = config.serial_number[:25]
        result = await self._call("BootNotification", payload)
        return BootAnswer(
            result["status"], int(result["interval"]), parse_time(result.get("currentTime"))
        )

    async def send_status_notification(
        self, connector_id: int, status: str, error_code: str, info: str | None
    ) -> None:
        payload: dict[str, Any] = {
            "connectorId": connector_id,
            "errorCode": error_code,
            "status": status,
            "timestamp": format_time(self.twin.now()),
        }
        if info:
            payload["info"] = info[:50]
        await self._call("StatusNotification", payload)

    async def send_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: Any = None
    ) -> tuple[str, Any]:
        """1.6 carries ``data`` as a string: any other JSON value is sent as JSON text."""
        if data is not None and not isinstance(data, str):
            data = json.dumps(data)
        return await super().send_data_transfer(vendor_id, message_id, data)

    async def send_authorize(self, id_tag: str) -> IdTagInfo:
        result = await self._call("Authorize", {"idTag": id_tag})
        return _id_tag_info(result.get("idTagInfo"))

    async def send_start_transaction(self, transaction: Any) -> tuple[str, IdTagInfo]:
        payload: dict[str, Any] = {
            "connectorId": transaction.connector_id,
            "idTag": transaction.id_tag,
            "meterStart": transaction.meter_start_wh,
            "timestamp": format_time(transaction.start_time),
        }
        if transaction.reservation_id is not None:
            payload["reservationId"] = transaction.reservation_id
        result = await self._call("StartTransaction", payload)
        return str(result["transactionId"]), _id_tag_info(result.get("idTagInfo"))

    async def send_stop_transaction(self, transaction: Any) -> IdTagInfo | None:
        if transaction.csms_transaction_id is None:
            logger.warning(
                "%s: dropping StopTransaction of %s: no CSMS id", self.id, transaction.ref
            )
            self._forget_stop_aligned(transaction.ref)
            return None
        payload: dict[str, Any] = {
            "meterStop": transaction.meter_stop_wh,
            "timestamp": format_time(transaction.end_time),
            "transactionId": int(transaction.csms_transaction_id),
        }
        if transaction.stop_reason:
            payload["reason"] = _STOP_REASONS.get(transaction.stop_reason, transaction.stop_reason)
        if transaction.stop_id_tag:
            payload["idTag"] = transaction.stop_id_tag
        aligned = list(self._stop_aligned.get(transaction.ref, ())) if self._stop_aligned else []
        stop_measurands = self._measurands("StopTxnSampledData")
        if stop_measurands and transaction.end_sample is not None:
            aligned.append(self.meter_value(transaction.end_sample, stop_measurands))
        if aligned:
            payload["transactionData"] = aligned
        result = await self._call("StopTransaction", payload)
        self._forget_stop_aligned(transaction.ref)
        info = result.get("idTagInfo")
        return _id_tag_info(info) if info else None

    async def send_meter_values(self, sample: MeterSample, transaction: Any | None) -> None:
        measurands = None
        if sample.context == "Sample.Clock":
            measurands = self._measurands("MeterValuesAlignedData")
        payload: dict[str, Any] = {
            "connectorId": sample.connector_id,
            "meterValue": [self.meter_value(sample, measurands)],
        }
        if transaction is not None:
            if transaction.csms_transaction_id is None:
                logger.warning(
                    "%s: dropping MeterValues of %s: no CSMS id", self.id, transaction.ref
                )
                return
            payload["transactionId"] = int(transaction.csms_transaction_id)
        await self._call("MeterValues", payload)

    def meter_value(
        self, sample: MeterSample, measurands: tuple[str, ...] | None = None
    ) -> dict[str, Any]:
        """One MeterValue with ``measurands`` (default: MeterValuesSampledData)."""
        values = []
        wanted = self.settings.measurands if measurands is None else measurands
        for measurand, value, decimals in self.readings(sample, wanted):
            entry = {
                "value": f"{value:.{decimals}f}",
                "context": sample.context,
                "measurand": measurand,
                "unit": MEASURAND_UNITS[measurand],
            }
            if measurand == "SoC":
                entry["location"] = "EV"
            values.append(entry)
        return {"timestamp": format_time(sample.at), "sampledValue": values}

    # -- clock-aligned meter values --------------------------------------------------------

    def aligned_interval(self) -> int:
        return int(self.value("ClockAlignedDataInterval"))

    def sample_aligned(self) -> None:
        """A Sample.Clock sample of every connector: MeterValues queued with the
        transactionId while a transaction runs, else sent at once; and, during a
        transaction, the StopTxnAlignedData values kept for its StopTransaction."""
        twin = self.twin
        aligned = self._measurands("MeterValuesAlignedData")
        stop_aligned = self._measurands("StopTxnAlignedData")
        for connector in twin.connectors():
            tx = connector.transaction
            if not aligned and (tx is None or not stop_aligned):
                continue
            sample = twin.current_sample(connector, "Sample.Clock")
            if tx is None:
                twin.spawn(self.send_meter_values(sample, None))
                continue
            if aligned:
                twin.queue.put(QueuedMessage("meter", tx, sample=sample))
            if stop_aligned:
                if self._stop_aligned is None:
                    self._stop_aligned = {}
                meter_value = self.meter_value(sample, stop_aligned)
                self._stop_aligned.setdefault(tx.ref, []).append(meter_value)

    def _forget_stop_aligned(self, ref: str) -> None:
        """Its StopTransaction is answered (or dropped): a retry would have needed them."""
        if self._stop_aligned is not None:
            self._stop_aligned.pop(ref, None)
            if not self._stop_aligned:
                self._stop_aligned = None

    # -- CSMS → twin: transactions ---------------------------------------------------------

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(
        self, id_tag: str, connector_id: int | None = None, charging_profile: Any = None, **_: Any
    ) -> call_result.RemoteStartTransaction:
        profile = None
        if charging_profile is not None:
            try:
                profile = ChargingProfile.from_ocpp16(plain(charging_profile))
            except (ValueError, TypeError) as error:
                logger.info("%s: RemoteStart profile rejected: %s", self.id, error)
                return call_result.RemoteStartTransaction(status="Rejected")
        accepted = self.twin.handle_remote_start(id_tag, connector_id, profile)
        return call_result.RemoteStartTransaction(status="Accepted" if accepted else "Rejected")

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(
        self, transaction_id: int, **_: Any
    ) -> call_result.RemoteStopTransaction:
        accepted = self.twin.handle_remote_stop(str(transaction_id))
        return call_result.RemoteStopTransaction(status="Accepted" if accepted else "Rejected")

    @on(Action.reserve_now)
    def on_reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
        **_: Any,
    ) -> call_result.ReserveNow:
        expiry = parse_time(expiry_date)
        if expiry is None or expiry.tzinfo is None:
            return call_result.ReserveNow(status="Rejected")
        if connector_id == 0 and self.value("ReserveConnectorZeroSupported") != "true":
            return call_result.ReserveNow(status="Rejected")
        status = self.twin.handle_reserve(
            connector_id, expiry, id_tag, parent_id_tag, reservation_id
        )
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> call_result.CancelReservation:
        accepted = self.twin.handle_cancel_reservation(reservation_id)
        return call_result.CancelReservation(status="Accepted" if accepted else "Rejected")

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int, **_: Any) -> call_result.UnlockConnector:
        return call_result.UnlockConnector(status=self.twin.handle_unlock(connector_id))

    @on(Action.change_availability)
    def on_change_availability(
        self, connector_id: int, type: str, **_: Any
    ) -> call_result.ChangeAvailability:
        status = self.twin.handle_change_availability(connector_id, type == "Operative")
        return call_result.ChangeAvailability(status=status)

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> call_result.Reset:
        self.twin.handle_reset(type == "Hard")
        return call_result.Reset(status="Accepted")

    # -- CSMS → twin: smart charging ---------------------------------------------------------

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: Any, **_: Any
    ) -> call_result.SetChargingProfile:
        try:
            profile = ChargingProfile.from_ocpp16(plain(cs_charging_profiles))
        except (ValueError, TypeError) as error:
            logger.info("%s: SetChargingProfile rejected: %s", self.id, error)
            return call_result.SetChargingProfile(status="Rejected")
        max_level = int(self.value("ChargeProfileMaxStackLevel"))
        max_periods = int(self.value("ChargingScheduleMaxPeriods"))
        if profile.stack_level > max_level or len(profile.schedule.periods) > max_periods:
            return call_result.SetChargingProfile(status="Rejected")
        accepted = self.twin.handle_set_charging_profile(connector_id, profile)
        return call_result.SetChargingProfile(status="Accepted" if accepted else "Rejected")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        removed = self.twin.handle_clear_charging_profile(
            id, connector_id, charging_profile_purpose, stack_level
        )
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **_: Any
    ) -> call_result.GetCompositeSchedule:
        unit = {"A": "A", "W": "W"}.get(charging_rate_unit or "")
        schedule = self.twin.handle_composite_schedule(connector_id, duration, unit)
        if schedule is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=format_time(schedule.start),
            charging_schedule=schedule.to_ocpp16(),
        )

    # -- CSMS → twin: configuration ---------------------------------------------------------

    @on(Action.get_configuration)
    def on_get_configuration(
        self, key: list[str] | None = None, **_: Any
    ) -> call_result.GetConfiguration:
        if key:
            names = []
            unknown = []
            for asked in key:
                name = _KEYS_BY_LOWER.get(asked.lower())
                (names if name else unknown).append(name or asked)
        else:
            names, unknown = list(KEYS), []
        configuration = [
            {"key": name, "readonly": KEYS[name].readonly, "value": self.value(name)}
            for name in names
        ]
        return call_result.GetConfiguration(
            configuration_key=configuration, unknown_key=unknown or None
        )

    @on(Action.change_configuration)
    def on_change_configuration(
        self, key: str, value: str, **_: Any
    ) -> call_result.ChangeConfiguration:
        name = _KEYS_BY_LOWER.get(key.lower())
        if name is None:
            return call_result.ChangeConfiguration(status="NotSupported")
        definition = KEYS[name]
        if definition.readonly:
            return call_result.ChangeConfiguration(status="Rejected")
        normalised = validate_value(definition, value)
        if normalised is None:
            return call_result.ChangeConfiguration(status="Rejected")
        self._set(name, normalised)
        if name == "ClockAlignedDataInterval":
            self._restart_aligned()
        self.twin.settings_changed(
            heartbeat=name == "HeartbeatInterval", metering=name == "MeterValueSampleInterval"
        )
        if name == "AuthorizationCacheEnabled" and normalised == "false":
            self.twin.authorizer.clear_cache()
        return call_result.ChangeConfiguration(status="Accepted")

    # -- CSMS → twin: local authorisation ------------------------------------------------------

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        self.twin.authorizer.clear_cache()
        return call_result.ClearCache(status="Accepted")

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(list_version=self.twin.authorizer.list_version)

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.SendLocalList:
        entries = local_authorization_list or []
        if len(entries) > int(self.value("SendLocalListMaxLength")):
            return call_result.SendLocalList(status="Failed")
        parsed = [
            LocalListEntry(
                entry["id_tag"],
                _id_tag_info(entry["id_tag_info"]) if entry.get("id_tag_info") else None,
            )
            for entry in entries
        ]
        status = self.twin.authorizer.update_list(list_version, update_type, parsed)
        if self.twin.authorizer.list_size() > int(self.value("LocalAuthListMaxLength")):
            return call_result.SendLocalList(status="Failed")
        return call_result.SendLocalList(status=status)

    # -- CSMS → twin: firmware, diagnostics and logs (worker.twin.firmware) ------------------

    @on(Action.update_firmware)
    def on_update_firmware(
        self,
        location: str,
        retrieve_date: str,
        retries: int | None = None,
        retry_interval: int | None = None,
        **_: Any,
    ) -> call_result.UpdateFirmware:
        update = FirmwareUpdate(
            "plain",
            location,
            required_time("retrieveDate", retrieve_date),
            retries=max(retries or 0, 0),
            retry_interval=max(retry_interval or 0, 0),
        )
        self.firmware().start_update(update)
        return call_result.UpdateFirmware()

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(
        self,
        request_id: int,
        firmware: dict[str, Any],
        retries: int | None = None,
        retry_interval: int | None = None,
        **_: Any,
    ) -> call_result.SignedUpdateFirmware:
        certificate = firmware.get("signing_certificate") or ""
        if not certificate_well_formed(certificate):
            self.reject_signing_certificate()
            return call_result.SignedUpdateFirmware(status="InvalidCertificate")
        install = firmware.get("install_date_time")
        update = FirmwareUpdate(
            "signed",
            firmware["location"],
            required_time("retrieveDateTime", firmware["retrieve_date_time"]),
            request_id=request_id,
            install_at=required_time("installDateTime", install) if install else None,
            retries=max(retries or 0, 0),
            retry_interval=max(retry_interval or 0, 0),
            signature=firmware.get("signature") or "",
            signing_certificate=certificate,
        )
        replaced = self.firmware().start_update(update)
        return call_result.SignedUpdateFirmware(
            status="AcceptedCanceled" if replaced else "Accepted"
        )

    @on(Action.get_diagnostics)
    def on_get_diagnostics(
        self,
        location: str,
        retries: int | None = None,
        retry_interval: int | None = None,
        start_time: str | None = None,
        stop_time: str | None = None,
        **_: Any,
    ) -> call_result.GetDiagnostics:
        file_name = diagnostics_file_name(self.id, self.twin.now())
        upload = LogUpload(
            "diagnostics",
            location,
            file_name,
            oldest=required_time("startTime", start_time) if start_time else None,
            latest=required_time("stopTime", stop_time) if stop_time else None,
            retries=max(retries or 0, 0),
            retry_interval=max(retry_interval or 0, 0),
        )
        self.firmware().start_upload(upload)
        return call_result.GetDiagnostics(file_name=file_name)

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
        """Plain updates: FirmwareStatusNotification, whose 1.6 statuses leave out those
        of scheduling and signatures; signed: SignedFirmwareStatusNotification."""
        if update.kind == "signed":
            payload = {"status": status, "requestId": update.request_id}
            await self._call("SignedFirmwareStatusNotification", payload)
        elif status in _PLAIN_FIRMWARE_STATUSES:
            await self._call("FirmwareStatusNotification", {"status": status})

    async def send_upload_status(self, upload: LogUpload, status: str) -> None:
        if upload.kind == "diagnostics":
            await self._call("DiagnosticsStatusNotification", {"status": status})
            return
        payload: dict[str, Any] = {"status": UPLOAD_LOG_STATUS.get(status, status)}
        if upload.request_id is not None:
            payload["requestId"] = upload.request_id
        await self._call("LogStatusNotification", payload)

    async def send_triggered_firmware_status(self) -> None:
        """TriggerMessage FirmwareStatusNotification: the plain update's status, or Idle."""
        simulator = self._firmware
        update = simulator.update if simulator is not None else None
        status = self.firmware_status() if update is not None and update.kind == "plain" else "Idle"
        if status not in _PLAIN_FIRMWARE_STATUSES:
            status = "Idle"
        await self._call("FirmwareStatusNotification", {"status": status})

    async def send_triggered_diagnostics_status(self) -> None:
        """TriggerMessage DiagnosticsStatusNotification: Uploading during a
        GetDiagnostics upload, else Idle."""
        status = "Uploading" if self.upload_in_progress("diagnostics") else "Idle"
        await self._call("DiagnosticsStatusNotification", {"status": status})

    async def send_triggered_signed_firmware_status(self) -> None:
        """For ExtendedTriggerMessage FirmwareStatusNotification: the signed update's
        status and requestId, or Idle."""
        simulator = self._firmware
        update = simulator.update if simulator is not None else None
        if update is not None and update.kind == "signed":
            payload = {"status": self.firmware_status(), "requestId": update.request_id}
            await self._call("SignedFirmwareStatusNotification", payload)
        else:
            await self._call("SignedFirmwareStatusNotification", {"status": "Idle"})

    async def send_triggered_log_status(self) -> None:
        """For ExtendedTriggerMessage LogStatusNotification: Uploading with the GetLog's
        requestId during its upload, else Idle."""
        upload = self.upload_in_progress("log")
        if upload is not None:
            await self._call(
                "LogStatusNotification", {"status": "Uploading", "requestId": upload.request_id}
            )
        else:
            await self._call("LogStatusNotification", {"status": "Idle"})

    # -- CSMS → twin: the rest ------------------------------------------------------------------

    @on(Action.trigger_message)
    def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        twin = self.twin
        if connector_id is not None and connector_id != 0 and twin.connector(connector_id) is None:
            return call_result.TriggerMessage(status="Rejected")
        if requested_message == "BootNotification":
            send = twin.trigger_boot
        elif requested_message == "Heartbeat":
            send = twin.send_heartbeat
        elif requested_message == "StatusNotification":
            send = lambda: self._send_statuses(connector_id)  # noqa: E731
        elif requested_message == "MeterValues":
            send = lambda: self._send_triggered_meter_values(connector_id)  # noqa: E731
        elif requested_message == "DiagnosticsStatusNotification":
            send = self.send_triggered_diagnostics_status
        elif requested_message == "FirmwareStatusNotification":
            send = self.send_triggered_firmware_status
        else:
            return call_result.TriggerMessage(status="NotImplemented")
        self.after_answer(lambda: twin.spawn(send()))
        return call_result.TriggerMessage(status="Accepted")

    async def _send_statuses(self, connector_id: int | None) -> None:
        ids = (
            [connector_id]
            if connector_id is not None
            else [0] + [c.connector_id for c in self.twin.connectors()]
        )
        for cid in ids:
            status, error_code, info = self.twin.status_of(cid)
            await self.send_status_notification(cid, status, error_code, info)

    async def _send_triggered_meter_values(self, connector_id: int | None) -> None:
        twin = self.twin
        connectors = [twin.connector(connector_id)] if connector_id else twin.connectors()
        for connector in connectors:
            if connector is None:
                continue
            sample = twin.current_sample(connector, "Trigger")
            tx = connector.transaction
            if tx is not None and tx.csms_transaction_id is None:
                tx = None
            await self.send_meter_values(sample, tx)

    @on(Action.data_transfer)
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None, **_: Any
    ) -> call_result.DataTransfer:
        if vendor_id != self.twin.config.vendor:
            return call_result.DataTransfer(status="UnknownVendorId")
        if message_id is not None:
            return call_result.DataTransfer(status="UnknownMessageId")
        return call_result.DataTransfer(status="Accepted")

    # -- security (Security Whitepaper edition 3) ------------------------------------------

    def organization_name(self) -> str:
        return self.value("CpoName")

    async def send_sign_certificate(self, csr: str, use: str) -> str:
        result = await self._call("SignCertificate", {"csr": csr})
        return str(result["status"])

    @on(Action.install_certificate)
    def on_install_certificate(
        self, certificate_type: str, certificate: str, **_: Any
    ) -> call_result.InstallCertificate:
        status = security.install_certificate(
            self, _CERTIFICATE_USES[certificate_type], certificate
        )
        return call_result.InstallCertificate(status=status)

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(
        self, certificate_type: str, **_: Any
    ) -> call_result.GetInstalledCertificateIds:
        ids = self.twin.certificates.installed_ids([_CERTIFICATE_USES[certificate_type]])
        if not ids:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(
            status="Accepted", certificate_hash_data=[hash_data for _, hash_data in ids]
        )

    @on(Action.delete_certificate)
    def on_delete_certificate(
        self, certificate_hash_data: dict[str, Any], **_: Any
    ) -> call_result.DeleteCertificate:
        wanted = security.snake_hash_data(certificate_hash_data)
        return call_result.DeleteCertificate(status=security.delete_certificate(self, wanted))

    @on(Action.certificate_signed)
    def on_certificate_signed(
        self, certificate_chain: str, **_: Any
    ) -> call_result.CertificateSigned:
        status = security.certificate_signed(self, certificate_chain, "ChargingStationCertificate")
        return call_result.CertificateSigned(status=status)

    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> call_result.ExtendedTriggerMessage:
        if connector_id and self.twin.connector(connector_id) is None:
            return call_result.ExtendedTriggerMessage(status="Rejected")
        if requested_message == "SignChargePointCertificate":
            security.request_signing(self, "ChargingStationCertificate")
            return call_result.ExtendedTriggerMessage(status="Accepted")
        if requested_message == "LogStatusNotification":
            send = self.send_triggered_log_status
        elif requested_message == "FirmwareStatusNotification":
            # The Whitepaper's firmware status is SignedFirmwareStatusNotification.
            send = self.send_triggered_signed_firmware_status
        else:
            answer = self.on_trigger_message(requested_message, connector_id)
            return call_result.ExtendedTriggerMessage(status=answer.status)
        self.after_answer(lambda: self.twin.spawn(send()))
        return call_result.ExtendedTriggerMessage(status="Accepted")


#: 1.6 CertificateUseEnumType → the certificate store's words.
_CERTIFICATE_USES = {
    "CentralSystemRootCertificate": "CSMSRootCertificate",
    "ManufacturerRootCertificate": "ManufacturerRootCertificate",
}

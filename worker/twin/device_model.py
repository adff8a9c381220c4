"""The OCPP 2.0.1 device model of a twin: components, variables and their values.

The static part (which components and variables exist, their data type, limits,
mutability and default) is the table :data:`VARIABLES`, built once per process and
shared by every twin. A twin's :class:`DeviceModel` keeps only the values that
differ from the defaults, plus a reference to its EVSE layout; values that follow
from the twin's configuration or state (vendor, connector type, availability...)
are not stored at all but asked of the adapter when read (``live`` variables).

Key format, used by :meth:`DeviceModel.values` (what ``configuration_values()``
reports) and by ``config.ocpp_configuration``::

    Component[.componentInstance][@evseId[.connectorId]]/Variable[.variableInstance]

for example ``OCPPCommCtrlr/HeartbeatInterval``,
``OCPPCommCtrlr/MessageAttempts.TransactionEvent``, ``EVSE@1/AvailabilityState``,
``Connector@1.2/ConnectorType``. Names are matched case-insensitively, as the CSMS
may spell them either way; keys are written with the canonical spelling.

Only the ``Actual`` attribute exists; asking for Target, MinSet or MaxSet is
answered NotSupportedAttributeType.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from worker.twin.config import EvseConfig

DataType = Literal[
    "string",
    "decimal",
    "integer",
    "dateTime",
    "boolean",
    "OptionList",
    "SequenceList",
    "MemberList",
]
Mutability = Literal["ReadOnly", "ReadWrite", "WriteOnly"]
Scope = Literal["station", "evse", "connector"]
ReportBase = Literal["ConfigurationInventory", "FullInventory", "SummaryInventory"]

#: Measurands the twin can sample (the 2.0.1 MeasurandEnumType words).
MEASURANDS = (
    "Energy.Active.Import.Register",
    "Energy.Active.Export.Register",
    "Power.Active.Import",
    "Power.Active.Export",
    "Power.Offered",
    "Current.Import",
    "Current.Offered",
    "Voltage",
    "SoC",
)
_DEFAULT_UPDATED = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"
#: The largest value an attribute may carry on the wire (VariableAttributeType.value).
MAX_VALUE_LENGTH = 2500


@dataclass(frozen=True, slots=True)
class Variable:
    """One variable of one component, as every twin has it.

    ``scope`` says whether the component exists once per station, per EVSE or per
    connector. ``setting`` names the :class:`~worker.twin.protocol.SessionSettings`
    attribute the value feeds. ``live`` variables are computed by the adapter when
    read (never stored). ``summary`` variables are part of a SummaryInventory.
    """

    component: str
    name: str
    default: str = ""
    data_type: DataType = "string"
    mutability: Mutability = "ReadWrite"
    scope: Scope = "station"
    component_instance: str | None = None
    instance: str | None = None
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: tuple[str, ...] | None = None
    setting: str | None = None
    live: bool = False
    summary: bool = False

    @property
    def lookup(self) -> tuple[str, str, str, str]:
        return (
            self.component.lower(),
            (self.component_instance or "").lower(),
            self.name.lower(),
            (self.instance or "").lower(),
        )


def _ro(component: str, name: str, default: str = "", **kw: Any) -> Variable:
    return Variable(component, name, default, mutability="ReadOnly", **kw)


def _bool(component: str, name: str, default: bool, **kw: Any) -> Variable:
    return Variable(component, name, "true" if default else "false", "boolean", **kw)


def _int(component: str, name: str, default: int, **kw: Any) -> Variable:
    kw.setdefault("min_limit", 0)
    return Variable(component, name, str(default), "integer", **kw)


def _measurands(component: str, name: str, default: str, **kw: Any) -> Variable:
    return Variable(component, name, default, "MemberList", values_list=MEASURANDS, **kw)


_CS, _EVSE, _CONN = "ChargingStation", "EVSE", "Connector"

#: The device model of a Core charge point with local authorisation, reservations,
#: smart charging and remote trigger (OCPP 2.0.1 part 2, appendix "Components and
#: Variables"). Order is the report order.
VARIABLES: tuple[Variable, ...] = (
    # -- the station, its EVSEs and connectors
    _ro(
        _CS,
        "AvailabilityState",
        data_type="OptionList",
        live=True,
        summary=True,
        values_list=("Available", "Occupied", "Reserved", "Unavailable", "Faulted"),
    ),
    _ro(_CS, "Available", "true", data_type="boolean", summary=True),
    _ro(_CS, "Problem", data_type="boolean", live=True, summary=True),
    _ro(_CS, "Model", live=True),
    _ro(_CS, "VendorName", live=True),
    _ro(_CS, "SerialNumber", live=True),
    _ro(_CS, "SupplyPhases", data_type="integer", live=True),
    _ro(
        _EVSE,
        "AvailabilityState",
        data_type="OptionList",
        scope="evse",
        live=True,
        summary=True,
        values_list=("Available", "Occupied", "Reserved", "Unavailable", "Faulted"),
    ),
    _ro(_EVSE, "Available", "true", data_type="boolean", scope="evse", summary=True),
    _ro(_EVSE, "Power", data_type="decimal", scope="evse", unit="W", live=True),
    _ro(_EVSE, "SupplyPhases", data_type="integer", scope="evse", live=True),
    _ro(
        _CONN,
        "AvailabilityState",
        data_type="OptionList",
        scope="connector",
        live=True,
        summary=True,
        values_list=("Available", "Occupied", "Reserved", "Unavailable", "Faulted"),
    ),
    _ro(_CONN, "Available", "true", data_type="boolean", scope="connector", summary=True),
    _ro(_CONN, "ConnectorType", scope="connector", live=True),
    _ro(_CONN, "SupplyPhases", data_type="integer", scope="connector", live=True),
    # -- communication
    _int("OCPPCommCtrlr", "HeartbeatInterval", 300, unit="s", setting="heartbeat_interval"),
    _ro(
        "OCPPCommCtrlr",
        "MessageTimeout",
        "30",
        data_type="integer",
        instance="Default",
        unit="s",
        live=True,
    ),
    _int(
        "OCPPCommCtrlr",
        "MessageAttempts",
        3,
        instance="TransactionEvent",
        min_limit=1,
        setting="transaction_message_attempts",
    ),
    _int(
        "OCPPCommCtrlr",
        "MessageAttemptInterval",
        60,
        instance="TransactionEvent",
        unit="s",
        setting="transaction_message_retry_interval",
    ),
    _int("OCPPCommCtrlr", "WebSocketPingInterval", 0, unit="s", setting="websocket_ping_interval"),
    _int("OCPPCommCtrlr", "OfflineThreshold", 60, unit="s"),
    _int("OCPPCommCtrlr", "ResetRetries", 1),
    _int("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", 3),
    Variable(
        "OCPPCommCtrlr", "NetworkConfigurationPriority", "1", "SequenceList", values_list=("1",)
    ),
    _ro("OCPPCommCtrlr", "FileTransferProtocols", "HTTPS", data_type="MemberList"),
    _bool("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", True),
    _ro("OCPPCommCtrlr", "RetryBackOffWaitMinimum", "1", data_type="integer", unit="s"),
    _ro("OCPPCommCtrlr", "RetryBackOffRepeatTimes", "6", data_type="integer"),
    _ro("OCPPCommCtrlr", "RetryBackOffRandomRange", "50", data_type="integer", unit="%"),
    _ro("ClockCtrlr", "DateTime", data_type="dateTime", live=True),
    _ro("ClockCtrlr", "TimeSource", "Heartbeat", data_type="SequenceList"),
    _ro("SecurityCtrlr", "Identity", live=True),
    _ro("SecurityCtrlr", "SecurityProfile", data_type="integer", live=True),
    _ro("SecurityCtrlr", "OrganizationName", "ELU Twins"),
    _ro("SecurityCtrlr", "CertificateEntries", data_type="integer", live=True),
    _ro("SecurityCtrlr", "MaxCertificateChainSize", "10000", data_type="integer"),
    # -- device data
    _ro("DeviceDataCtrlr", "ItemsPerMessage", "100", data_type="integer", instance="GetReport"),
    _ro("DeviceDataCtrlr", "ItemsPerMessage", "100", data_type="integer", instance="GetVariables"),
    _ro("DeviceDataCtrlr", "ItemsPerMessage", "100", data_type="integer", instance="SetVariables"),
    _ro("DeviceDataCtrlr", "BytesPerMessage", "65000", data_type="integer", instance="GetReport"),
    _ro(
        "DeviceDataCtrlr", "BytesPerMessage", "65000", data_type="integer", instance="GetVariables"
    ),
    _ro(
        "DeviceDataCtrlr", "BytesPerMessage", "65000", data_type="integer", instance="SetVariables"
    ),
    # -- metering
    _ro("SampledDataCtrlr", "Available", "true", data_type="boolean"),
    _bool("SampledDataCtrlr", "Enabled", True),
    _measurands("SampledDataCtrlr", "TxStartedMeasurands", "Energy.Active.Import.Register"),
    _measurands("SampledDataCtrlr", "TxUpdatedMeasurands", _DEFAULT_UPDATED, setting="measurands"),
    _int(
        "SampledDataCtrlr", "TxUpdatedInterval", 60, unit="s", setting="meter_value_sample_interval"
    ),
    _measurands("SampledDataCtrlr", "TxEndedMeasurands", "Energy.Active.Import.Register"),
    _int("SampledDataCtrlr", "TxEndedInterval", 0, unit="s", setting="tx_ended_interval"),
    _bool("SampledDataCtrlr", "RegisterValuesWithoutPhases", True),
    _ro("AlignedDataCtrlr", "Available", "true", data_type="boolean"),
    _bool("AlignedDataCtrlr", "Enabled", True),
    _measurands("AlignedDataCtrlr", "Measurands", "Energy.Active.Import.Register"),
    _int("AlignedDataCtrlr", "Interval", 0, unit="s"),
    _bool("AlignedDataCtrlr", "SendDuringIdle", False),
    _measurands("AlignedDataCtrlr", "TxEndedMeasurands", ""),
    _int("AlignedDataCtrlr", "TxEndedInterval", 0, unit="s"),
    # -- transactions
    _int("TxCtrlr", "EVConnectionTimeOut", 60, unit="s", setting="connection_timeout"),
    _bool(
        "TxCtrlr",
        "StopTxOnEVSideDisconnect",
        True,
        setting="stop_transaction_on_ev_side_disconnect",
    ),
    _bool("TxCtrlr", "StopTxOnInvalidId", True, setting="stop_transaction_on_invalid_id"),
    _int("TxCtrlr", "MaxEnergyOnInvalidId", 0, unit="Wh", setting="max_energy_on_invalid_id"),
    # The twin starts a transaction when the vehicle is plugged in and authorised,
    # and ends it when either stops being true: the only points it supports.
    Variable(
        "TxCtrlr", "TxStartPoint", "PowerPathClosed", "MemberList", values_list=("PowerPathClosed",)
    ),
    Variable(
        "TxCtrlr",
        "TxStopPoint",
        "EVConnected,Authorized",
        "MemberList",
        values_list=("EVConnected", "Authorized"),
    ),
    _ro("TxCtrlr", "TxBeforeAcceptedEnabled", "true", data_type="boolean"),
    # -- authorisation
    _ro("AuthCtrlr", "Enabled", "true", data_type="boolean"),
    _bool("AuthCtrlr", "AuthorizeRemoteStart", True, setting="authorize_remote_tx_requests"),
    _bool("AuthCtrlr", "LocalAuthorizeOffline", True, setting="local_authorize_offline"),
    _bool("AuthCtrlr", "LocalPreAuthorize", False, setting="local_pre_authorize"),
    _bool(
        "AuthCtrlr",
        "OfflineTxForUnknownIdEnabled",
        False,
        setting="allow_offline_tx_for_unknown_id",
    ),
    _ro("AuthCacheCtrlr", "Available", "true", data_type="boolean"),
    _bool("AuthCacheCtrlr", "Enabled", True, setting="authorization_cache_enabled"),
    _int("AuthCacheCtrlr", "LifeTime", 86400, unit="s"),
    _ro("LocalAuthListCtrlr", "Available", "true", data_type="boolean"),
    _bool("LocalAuthListCtrlr", "Enabled", True, setting="local_auth_list_enabled"),
    _ro("LocalAuthListCtrlr", "Entries", data_type="integer", live=True),
    _ro("LocalAuthListCtrlr", "ItemsPerMessage", "100", data_type="integer"),
    _ro("LocalAuthListCtrlr", "BytesPerMessage", "65000", data_type="integer"),
    _ro("LocalAuthListCtrlr", "Storage", "1000", data_type="integer"),
    # -- reservations and smart charging
    _ro("ReservationCtrlr", "Available", "true", data_type="boolean"),
    _bool("ReservationCtrlr", "Enabled", True),
    _ro("ReservationCtrlr", "NonEvseSpecific", "false", data_type="boolean"),
    _ro("SmartChargingCtrlr", "Available", "true", data_type="boolean"),
    _bool("SmartChargingCtrlr", "Enabled", True),
    _ro(
        "SmartChargingCtrlr",
        "Entries",
        data_type="integer",
        component_instance=None,
        instance="ChargingProfiles",
        live=True,
    ),
    _ro("SmartChargingCtrlr", "LimitChangeSignificance", "0.1", data_type="decimal"),
    _ro("SmartChargingCtrlr", "ProfileStackLevel", "10", data_type="integer"),
    _ro("SmartChargingCtrlr", "PeriodsPerSchedule", "24", data_type="integer"),
    _ro("SmartChargingCtrlr", "RateUnit", "A,W", data_type="MemberList"),
    # -- monitoring
    _ro("MonitoringCtrlr", "Available", "true", data_type="boolean"),
    _bool("MonitoringCtrlr", "Enabled", True),
    _ro(
        "MonitoringCtrlr",
        "ActiveMonitoringBase",
        "All",
        data_type="OptionList",
        values_list=("All", "FactoryDefault", "HardWiredOnly"),
    ),
    _int("MonitoringCtrlr", "ActiveMonitoringLevel", 9, max_limit=9),
    _ro(
        "MonitoringCtrlr",
        "ItemsPerMessage",
        "100",
        data_type="integer",
        instance="SetVariableMonitoring",
    ),
    _ro(
        "MonitoringCtrlr",
        "ItemsPerMessage",
        "100",
        data_type="integer",
        instance="ClearVariableMonitoring",
    ),
    _ro(
        "MonitoringCtrlr",
        "BytesPerMessage",
        "65000",
        data_type="integer",
        instance="SetVariableMonitoring",
    ),
    _ro(
        "MonitoringCtrlr",
        "BytesPerMessage",
        "65000",
        data_type="integer",
        instance="ClearVariableMonitoring",
    ),
    # -- display messages (maxLimit of NumberOfDisplayMessages: how many it holds)
    _ro("DisplayMessageCtrlr", "Available", "true", data_type="boolean"),
    _bool("DisplayMessageCtrlr", "Enabled", True),
    _ro(
        "DisplayMessageCtrlr",
        "NumberOfDisplayMessages",
        data_type="integer",
        max_limit=20,
        live=True,
    ),
    _ro(
        "DisplayMessageCtrlr",
        "SupportedFormats",
        "ASCII,UTF8",
        data_type="MemberList",
        values_list=("ASCII", "HTML", "URI", "UTF8"),
    ),
    _ro(
        "DisplayMessageCtrlr",
        "SupportedPriorities",
        "AlwaysFront,InFront,NormalCycle",
        data_type="MemberList",
        values_list=("AlwaysFront", "InFront", "NormalCycle"),
    ),
)

_BY_LOOKUP: dict[tuple[str, str, str, str], Variable] = {v.lookup: v for v in VARIABLES}
_SCOPE_OF_COMPONENT: dict[tuple[str, str], Scope] = {
    (v.component.lower(), (v.component_instance or "").lower()): v.scope for v in VARIABLES
}
_COMPONENT_NAMES = frozenset(v.component.lower() for v in VARIABLES)
SETTING_VARIABLES: tuple[Variable, ...] = tuple(v for v in VARIABLES if v.setting)


def variable(component: str, name: str, instance: str | None = None) -> Variable:
    """A station-scoped definition by its canonical names (for the adapter's own use)."""
    return _BY_LOOKUP[(component.lower(), "", name.lower(), (instance or "").lower())]


# -- addressing ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Address:
    """One variable of one component instance: where a value lives."""

    variable: Variable
    evse_id: int | None = None
    connector_id: int | None = None

    @property
    def key(self) -> str:
        v = self.variable
        component = v.component + (f".{v.component_instance}" if v.component_instance else "")
        if self.evse_id is not None:
            component += f"@{self.evse_id}"
            if self.connector_id is not None:
                component += f".{self.connector_id}"
        return f"{component}/{v.name}" + (f".{v.instance}" if v.instance else "")

    def component_json(self) -> dict[str, Any]:
        v = self.variable
        out: dict[str, Any] = {"name": v.component}
        if v.component_instance:
            out["instance"] = v.component_instance
        if self.evse_id is not None:
            evse: dict[str, Any] = {"id": self.evse_id}
            if self.connector_id is not None:
                evse["connectorId"] = self.connector_id
            out["evse"] = evse
        return out

    def variable_json(self) -> dict[str, Any]:
        v = self.variable
        out: dict[str, Any] = {"name": v.name}
        if v.instance:
            out["instance"] = v.instance
        return out


LookupStatus = Literal["UnknownComponent", "UnknownVariable"]


def _find(
    evses: tuple[EvseConfig, ...],
    component: str,
    component_instance: str | None,
    evse_id: int | None,
    connector_id: int | None,
    name: str,
    instance: str | None,
) -> Address | LookupStatus:
    comp = (component.lower(), (component_instance or "").lower())
    scope = _SCOPE_OF_COMPONENT.get(comp)
    if scope is None:
        return "UnknownComponent"
    if scope == "station" and evse_id is not None:
        return "UnknownComponent"
    if scope != "station":
        evse = next((e for e in evses if e.evse_id == evse_id), None)
        if evse is None:
            return "UnknownComponent"
        if scope == "evse" and connector_id is not None:
            return "UnknownComponent"
        if scope == "connector" and not any(
            c.evse_connector_id == connector_id for c in evse.connectors
        ):
            return "UnknownComponent"
    definition = _BY_LOOKUP.get((*comp, name.lower(), (instance or "").lower()))
    if definition is None:
        return "UnknownVariable"
    return Address(
        definition,
        evse_id if scope != "station" else None,
        connector_id if scope == "connector" else None,
    )


def parse_key(evses: tuple[EvseConfig, ...], key: str) -> Address | None:
    """The address a stored key names, or None when the twin has no such variable."""
    component_part, _, variable_part = key.partition("/")
    if not variable_part:
        return None
    component_part, _, location = component_part.partition("@")
    component, _, component_instance = component_part.partition(".")
    name, _, instance = variable_part.partition(".")
    evse_id = connector_id = None
    if location:
        evse_text, _, connector_text = location.partition(".")
        try:
            evse_id = int(evse_text)
            connector_id = int(connector_text) if connector_text else None
        except ValueError:
            return None
    found = _find(
        evses, component, component_instance or None, evse_id, connector_id, name, instance or None
    )
    return found if isinstance(found, Address) else None


# -- values ----------------------------------------------------------------------------


def normalise(definition: Variable, value: str) -> str | None:
    """The value in canonical form, or None when it is not valid for ``definition``."""
    kind = definition.data_type
    text = value.strip()
    if kind == "boolean":
        lowered = text.lower()
        return lowered if lowered in ("true", "false") else None
    if kind in ("integer", "decimal"):
        try:
            number: float = int(text) if kind == "integer" else float(text)
        except ValueError:
            return None
        if definition.min_limit is not None and number < definition.min_limit:
            return None
        if definition.max_limit is not None and number > definition.max_limit:
            return None
        return str(number) if kind == "integer" else f"{number:g}"
    if kind == "OptionList":
        allowed = definition.values_list
        return text if allowed is None or text in allowed else None
    if kind in ("MemberList", "SequenceList"):
        items = [item.strip() for item in text.split(",") if item.strip()]
        allowed = definition.values_list
        if allowed is not None and any(item not in allowed for item in items):
            return None
        if len(set(items)) != len(items):
            return None
        return ",".join(items)
    if kind == "dateTime":
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return text
    return value if len(value) <= MAX_VALUE_LENGTH else None


@lru_cache(maxsize=1024)
def typed(definition: Variable, value: str) -> Any:
    """The value as the Python type a SessionSettings attribute holds (cached, so that
    twins with the same value share one tuple of measurands)."""
    if definition.data_type == "boolean":
        return value == "true"
    if definition.data_type == "integer":
        return int(value)
    if definition.data_type in ("MemberList", "SequenceList"):
        return tuple(item for item in value.split(",") if item)
    return value


SetStatus = Literal[
    "Accepted", "Rejected", "UnknownComponent", "UnknownVariable", "NotSupportedAttributeType"
]
GetStatus = SetStatus

LiveValue = Callable[[Address], str]


def stored_value_problem(evses: tuple[EvseConfig, ...], key: str, value: str) -> str | None:
    """Why a value given for ``config.ocpp_configuration`` would not be taken, or None."""
    address = parse_key(evses, key)
    if address is None:
        return (
            "not a variable of this charging station "
            "(keys look like Component[@evse[.connector]]/Variable[.instance])"
        )
    if address.variable.live:
        return f"{address.key} follows from the charge point's own settings and state"
    if normalise(address.variable, str(value)) is None:
        return f"{value!r} is not a valid value for {address.key}"
    return None


class DeviceModel:
    """The device model of one twin: its EVSE layout and its non-default values.

    ``live`` computes the value of a live variable (the adapter's state and
    configuration); it is given per call so that the model holds no reference
    cycle to its adapter.
    """

    __slots__ = ("_values", "evses")

    def __init__(self, evses: tuple[EvseConfig, ...]) -> None:
        self.evses = evses
        self._values: dict[str, str] | None = None

    # -- stored values -------------------------------------------------------------------

    def load(self, stored: dict[str, str]) -> list[str]:
        """Apply stored values (``config.ocpp_configuration``); returns the keys ignored."""
        ignored = []
        for key, value in stored.items():
            address = parse_key(self.evses, key)
            normalised = (
                normalise(address.variable, str(value))
                if address is not None and not address.variable.live
                else None
            )
            if address is None or normalised is None:
                ignored.append(key)
                continue
            self._store(address, normalised)
        return ignored

    def values(self) -> dict[str, str]:
        """Every non-default value, by key (see the module docstring)."""
        return dict(self._values) if self._values else {}

    def _store(self, address: Address, value: str) -> None:
        key = address.key
        if value == address.variable.default:
            if self._values:
                self._values.pop(key, None)
                if not self._values:
                    self._values = None
        else:
            if self._values is None:
                self._values = {}
            self._values[key] = value

    def value(self, address: Address, live: LiveValue) -> str:
        if address.variable.live:
            return live(address)
        if self._values:
            stored = self._values.get(address.key)
            if stored is not None:
                return stored
        return address.variable.default

    def station_value(self, definition: Variable) -> str:
        """The value of a stored, station-scoped variable."""
        if self._values:
            stored = self._values.get(Address(definition).key)
            if stored is not None:
                return stored
        return definition.default

    # -- GetVariables / SetVariables -----------------------------------------------------

    def find(
        self,
        component: dict[str, Any],
        variable_: dict[str, Any],
    ) -> Address | LookupStatus:
        """Resolve a ComponentType / VariableType pair (snake_case keys from the wire)."""
        evse = component.get("evse") or {}
        return _find(
            self.evses,
            str(component.get("name", "")),
            component.get("instance"),
            evse.get("id"),
            evse.get("connector_id"),
            str(variable_.get("name", "")),
            variable_.get("instance"),
        )

    def get(
        self, component: dict[str, Any], variable_: dict[str, Any], attribute: str, live: LiveValue
    ) -> tuple[GetStatus, str | None]:
        found = self.find(component, variable_)
        if isinstance(found, str):
            return found, None
        if attribute != "Actual":
            return "NotSupportedAttributeType", None
        if found.variable.mutability == "WriteOnly":
            return "Rejected", None
        return "Accepted", self.value(found, live)[:MAX_VALUE_LENGTH]

    def set(
        self, component: dict[str, Any], variable_: dict[str, Any], attribute: str, value: str
    ) -> tuple[SetStatus, Address | None, str | None]:
        """Validate and store; returns the status, the address and why when rejected."""
        found = self.find(component, variable_)
        if isinstance(found, str):
            return found, None, None
        if attribute != "Actual":
            return "NotSupportedAttributeType", found, None
        if found.variable.mutability == "ReadOnly":
            return "Rejected", found, "ReadOnly"
        normalised = normalise(found.variable, value)
        if normalised is None:
            return "Rejected", found, "InvalidValue"
        self._store(found, normalised)
        return "Accepted", found, None

    # -- reports ---------------------------------------------------------------------------

    def addresses(self) -> Iterator[Address]:
        """Every variable instance of this twin, in report order."""
        for definition in VARIABLES:
            if definition.scope == "station":
                yield Address(definition)
            elif definition.scope == "evse":
                for evse in self.evses:
                    yield Address(definition, evse.evse_id)
            else:
                for evse in self.evses:
                    for connector in evse.connectors:
                        yield Address(definition, evse.evse_id, connector.evse_connector_id)

    def report(self, base: ReportBase, live: LiveValue) -> list[dict[str, Any]]:
        """The reportData of a NotifyReport answering GetBaseReport (camelCase)."""
        data = []
        for address in self.addresses():
            definition = address.variable
            if base == "ConfigurationInventory" and definition.mutability == "ReadOnly":
                continue
            if base == "SummaryInventory" and not definition.summary:
                continue
            data.append(self.report_entry(address, live))
        return data

    def custom_report(
        self,
        component_variables: list[dict[str, Any]] | None,
        criteria: list[str] | None,
        live: LiveValue,
    ) -> list[dict[str, Any]]:
        """The reportData of a NotifyReport answering GetReport (B08).

        A variable is reported when it matches one of ``component_variables`` (if
        given) and its component meets one of ``criteria`` (if given). A filter that
        leaves out the component's instance or EVSE, the variable, or the variable's
        instance matches every one of them (B08: "no instance", "no evseId").
        Criteria (B08.FR.07-10): Active, Available, Enabled: the component's variable
        of that name is true, or the component has none; Problem: its Problem is true.
        """
        addresses = list(self.addresses())
        if criteria:
            flags = self._component_flags(addresses, live)
            addresses = [
                a
                for a in addresses
                if any(_meets(flags.get(_component_key(a), {}), c) for c in criteria)
            ]
        if component_variables:
            addresses = [a for a in addresses if any(selects(f, a) for f in component_variables)]
        return [self.report_entry(address, live) for address in addresses]

    def _component_flags(
        self, addresses: list[Address], live: LiveValue
    ) -> dict[tuple[Any, ...], dict[str, bool]]:
        """Per component instance: the value of its Active / Available / Enabled /
        Problem variables, for those it has."""
        flags: dict[tuple[Any, ...], dict[str, bool]] = {}
        for address in addresses:
            definition = address.variable
            if definition.name in _CRITERIA_VARIABLES and definition.instance is None:
                value = self.value(address, live) == "true"
                flags.setdefault(_component_key(address), {})[definition.name] = value
        return flags

    def report_entry(self, address: Address, live: LiveValue) -> dict[str, Any]:
        """One ReportDataType (camelCase)."""
        definition = address.variable
        attribute: dict[str, Any] = {
            "type": "Actual",
            "mutability": definition.mutability,
            "persistent": True,
            "constant": definition.mutability == "ReadOnly" and not definition.live,
        }
        if definition.mutability != "WriteOnly":
            attribute["value"] = self.value(address, live)[:MAX_VALUE_LENGTH]
        characteristics: dict[str, Any] = {
            "dataType": definition.data_type,
            "supportsMonitoring": definition.mutability != "WriteOnly",
        }
        if definition.unit:
            characteristics["unit"] = definition.unit
        if definition.min_limit is not None:
            characteristics["minLimit"] = definition.min_limit
        if definition.max_limit is not None:
            characteristics["maxLimit"] = definition.max_limit
        if definition.values_list:
            characteristics["valuesList"] = ",".join(definition.values_list)
        return {
            "component": address.component_json(),
            "variable": address.variable_json(),
            "variableAttribute": [attribute],
            "variableCharacteristics": characteristics,
        }


_CRITERIA_VARIABLES = frozenset({"Active", "Available", "Enabled", "Problem"})


def _component_key(address: Address) -> tuple[Any, ...]:
    v = address.variable
    return (v.component, v.component_instance, address.evse_id, address.connector_id)


def _meets(flags: dict[str, bool], criterion: str) -> bool:
    if criterion == "Problem":
        return flags.get("Problem", False)
    return flags.get(criterion, True)


def _same(wanted: Any, actual: str | None) -> bool:
    return (wanted or "").lower() == (actual or "").lower()


def selects(selector: dict[str, Any], address: Address) -> bool:
    """Whether a ComponentVariableType (snake_case, from the wire) names ``address``."""
    definition = address.variable
    component = selector.get("component") or {}
    if not _same(component.get("name"), definition.component):
        return False
    if component.get("instance") is not None and not _same(
        component["instance"], definition.component_instance
    ):
        return False
    evse = component.get("evse")
    if evse is not None:
        if evse.get("id") != address.evse_id:
            return False
        connector_id = evse.get("connector_id")
        if connector_id is not None and connector_id != address.connector_id:
            return False
    variable_ = selector.get("variable")
    if variable_ is None:
        return True
    if not _same(variable_.get("name"), definition.name):
        return False
    return variable_.get("instance") is None or _same(variable_["instance"], definition.instance)

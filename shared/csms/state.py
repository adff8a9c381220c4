"""What a test CSMS remembers: charge points, their connectors and logs, and transactions.

Everything lives on one `CsmsState` object that the app holds, so two CSMSs in one process
never share anything.
"""

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from typing import TYPE_CHECKING, Any

from shared.csms.events import CsmsEvents
from shared.csms.message_log import MessageLog
from shared.csms.settings import (
    BOOT_STATUS,
    AuthorizationPolicy,
    CsmsSettings,
    CsmsSettingsUpdate,
)

if TYPE_CHECKING:
    from shared.csms.certificates import CertificateAuthority
    from shared.csms.session import CsmsSession

EVENT_LIMIT = 1_000
REPORT_LIMIT = 100
LOOSE_METER_VALUE_LIMIT = 1_000


def utc_now() -> datetime:
    return datetime.now(UTC)


def ocpp_now() -> str:
    """The current time as OCPP writes it (RFC 3339, UTC, milliseconds)."""
    return utc_now().isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class ConnectorStatus:
    connector_id: int
    status: str
    evse_id: int | None = None
    error_code: str | None = None
    info: str | None = None
    timestamp: str | None = None
    received_at: datetime = field(default_factory=utc_now)


@dataclass(slots=True)
class MeterValueRecord:
    """One meterValue as on the wire (`timestamp`, `sampledValue`) and where it came from."""

    timestamp: str
    sampled_value: list[dict[str, Any]]
    context: str
    source: str
    received_at: datetime = field(default_factory=utc_now)

    @classmethod
    def from_wire(cls, meter_value: dict[str, Any], source: str) -> "MeterValueRecord":
        sampled = meter_value.get("sampledValue", [])
        context = sampled[0].get("context", "Sample.Periodic") if sampled else "Sample.Periodic"
        return cls(meter_value.get("timestamp", ""), sampled, context, source)


@dataclass(slots=True)
class TransactionEventRecord:
    """One OCPP 2.0.1 TransactionEvent as it touched the transaction."""

    event_type: str
    timestamp: str
    trigger_reason: str
    seq_no: int
    offline: bool
    charging_state: str | None = None
    received_at: datetime = field(default_factory=utc_now)


@dataclass(slots=True)
class Transaction:
    id: int | str
    charge_point_id: str
    connector_id: int | None = None
    evse_id: int | None = None
    id_tag: str | None = None
    id_tag_status: str | None = None
    started_at: str | None = None
    stopped_at: str | None = None
    meter_start: float | None = None
    meter_stop: float | None = None
    stop_reason: str | None = None
    reservation_id: int | None = None
    charging_state: str | None = None
    meter_values: list[MeterValueRecord] = field(default_factory=list)
    events: list[TransactionEventRecord] = field(default_factory=list)
    ended: bool = False


@dataclass(slots=True)
class Report:
    """The parts of one OCPP 2.0.1 NotifyReport sequence (one requestId)."""

    request_id: int
    generated_at: str
    complete: bool = False
    parts: int = 0
    report_data: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class ChargePointRecord:
    id: str
    messages: MessageLog
    connected: bool = False
    connected_at: datetime | None = None
    disconnected_at: datetime | None = None
    connections: int = 0
    replaced_connections: int = 0
    subprotocol: str | None = None
    basic_auth_user: str | None = None
    basic_auth_password: str | None = None
    boot_status: str | None = None
    boot_notification: dict[str, Any] | None = None
    booted_at: datetime | None = None
    last_heartbeat: datetime | None = None
    connectors: dict[tuple[int | None, int], ConnectorStatus] = field(default_factory=dict)
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The latest payload of each informational message (FirmwareStatusNotification, ...)."""
    meter_values: deque[MeterValueRecord] = field(
        default_factory=lambda: deque(maxlen=LOOSE_METER_VALUE_LIMIT)
    )
    """Meter values that belong to no transaction."""
    reports: dict[int, Report] = field(default_factory=dict)
    monitoring_reports: dict[int, Report] = field(default_factory=dict)
    """NotifyMonitoringReport parts per requestId (``report_data``: their monitors)."""
    display_messages: dict[int, Report] = field(default_factory=dict)
    """NotifyDisplayMessages parts per requestId (``report_data``: their messageInfo)."""
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=EVENT_LIMIT))
    session: "CsmsSession | None" = None

    def attach(
        self,
        session: "CsmsSession",
        subprotocol: str,
        user: str | None,
        password: str | None,
    ) -> None:
        if self.session is not None:
            self.replaced_connections += 1
        self.session = session
        self.connections += 1
        self.connected = True
        self.connected_at = utc_now()
        self.subprotocol = subprotocol
        self.basic_auth_user = user
        self.basic_auth_password = password

    def detach(self, session: "CsmsSession") -> None:
        """Mark the charge point offline, unless a newer connection has already replaced it."""
        if self.session is session:
            self.session = None
            self.connected = False
            self.disconnected_at = utc_now()

    def set_connector_status(self, status: ConnectorStatus) -> None:
        self.connectors[(status.evse_id, status.connector_id)] = status

    def add_report_part(
        self,
        request_id: int,
        generated_at: str,
        tbc: bool,
        data: list[dict[str, Any]],
        reports: dict[int, Report] | None = None,
    ) -> None:
        """One part of a report sequence, into ``reports`` (NotifyReport's by default)."""
        if reports is None:
            reports = self.reports
        report = reports.get(request_id)
        if report is None:
            if len(reports) >= REPORT_LIMIT:
                del reports[next(iter(reports))]
            report = reports[request_id] = Report(request_id, generated_at)
        report.parts += 1
        report.report_data.extend(data)
        report.complete = not tbc


class CsmsState:
    def __init__(self, settings: CsmsSettings | None = None) -> None:
        self.settings = settings or CsmsSettings()
        self.events = CsmsEvents()
        #: Signs the CSRs of SignCertificate; None: SignCertificate is Rejected.
        self.certificate_authority: CertificateAuthority | None = None
        self.charge_points: dict[str, ChargePointRecord] = {}
        self.transactions: dict[tuple[str, str], Transaction] = {}
        self._transaction_ids = count(1)

    def charge_point(self, charge_point_id: str) -> ChargePointRecord:
        record = self.charge_points.get(charge_point_id)
        if record is None:
            record = ChargePointRecord(charge_point_id, MessageLog(self.settings.message_log_size))
            self.charge_points[charge_point_id] = record
        return record

    def update_settings(self, update: CsmsSettingsUpdate) -> None:
        changes = update.model_dump(exclude_unset=True, exclude_none=True)
        self.settings = CsmsSettings.model_validate({**self.settings.model_dump(), **changes})
        if "message_log_size" in changes:
            for record in self.charge_points.values():
                record.messages.resize(self.settings.message_log_size)

    def boot_answer(self) -> tuple[str, int]:
        """The registration status and interval that the boot policy gives."""
        settings = self.settings
        status = BOOT_STATUS[settings.boot_policy]
        interval = (
            settings.heartbeat_interval if status == "Accepted" else settings.boot_retry_interval
        )
        return status, interval

    def authorize(self, id_tag: str) -> str:
        """`Accepted` or `Invalid` for an id tag, per the authorization policy."""
        settings = self.settings
        if (
            settings.authorization is AuthorizationPolicy.accept_all
            or id_tag in settings.allowed_id_tags
        ):
            return "Accepted"
        return "Invalid"

    def next_transaction_id(self) -> int:
        return next(self._transaction_ids)

    def transaction(self, charge_point_id: str, transaction_id: int | str) -> Transaction | None:
        return self.transactions.get((charge_point_id, str(transaction_id)))

    def add_transaction(self, transaction: Transaction) -> None:
        while len(self.transactions) >= self.settings.transaction_limit:
            del self.transactions[next(iter(self.transactions))]
        self.transactions[(transaction.charge_point_id, str(transaction.id))] = transaction

    def find_transactions(
        self, transaction_id: str | None = None, charge_point_id: str | None = None
    ) -> list[Transaction]:
        return [
            transaction
            for (cp_id, tx_id), transaction in self.transactions.items()
            if (transaction_id is None or tx_id == transaction_id)
            and (charge_point_id is None or cp_id == charge_point_id)
        ]

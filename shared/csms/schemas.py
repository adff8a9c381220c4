"""What the CSMS HTTP API answers, named by role as in the rest of ELU Twins."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.csms.message_log import LoggedMessage, MessageLog
from shared.csms.state import (
    ChargePointRecord,
    ConnectorStatus,
    MeterValueRecord,
    Report,
    Transaction,
    TransactionEventRecord,
)


class ConnectorStatusPublic(BaseModel):
    evse_id: int | None
    connector_id: int
    status: str
    error_code: str | None
    info: str | None
    timestamp: str | None
    received_at: datetime

    @classmethod
    def of(cls, status: ConnectorStatus) -> "ConnectorStatusPublic":
        return cls(
            evse_id=status.evse_id,
            connector_id=status.connector_id,
            status=status.status,
            error_code=status.error_code,
            info=status.info,
            timestamp=status.timestamp,
            received_at=status.received_at,
        )


class ChargePointPublic(BaseModel):
    id: str
    connected: bool
    connected_at: datetime | None
    disconnected_at: datetime | None
    last_message_at: datetime | None
    subprotocol: str | None
    basic_auth_user: str | None
    boot_status: str | None
    boot_notification: dict[str, Any] | None
    booted_at: datetime | None
    last_heartbeat: datetime | None
    connectors: list[ConnectorStatusPublic]
    notifications: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, record: ChargePointRecord) -> "ChargePointPublic":
        return cls(
            id=record.id,
            connected=record.connected,
            connected_at=record.connected_at,
            disconnected_at=record.disconnected_at,
            last_message_at=record.messages.last_frame_at,
            subprotocol=record.subprotocol,
            basic_auth_user=record.basic_auth_user,
            boot_status=record.boot_status,
            boot_notification=record.boot_notification,
            booted_at=record.booted_at,
            last_heartbeat=record.last_heartbeat,
            connectors=[
                ConnectorStatusPublic.of(status)
                for _, status in sorted(
                    record.connectors.items(), key=lambda item: (item[0][0] or 0, item[0][1])
                )
            ],
            notifications=record.notifications,
        )


class ChargePointsPublic(BaseModel):
    data: list[ChargePointPublic]
    count: int


class MessagePublic(BaseModel):
    seq: int
    """Position since the charge point was first seen; stays stable when old frames drop out."""
    time: datetime
    direction: str
    message_type: str
    unique_id: str | None
    action: str | None
    payload: Any
    error_code: str | None = None
    error_description: str | None = None

    @classmethod
    def of(cls, message: LoggedMessage) -> "MessagePublic":
        return cls(
            seq=message.seq,
            time=message.time,
            direction=message.direction,
            message_type=message.message_type,
            unique_id=message.unique_id,
            action=message.action,
            payload=message.payload,
            error_code=message.error_code,
            error_description=message.error_description,
        )


class MessagesPublic(BaseModel):
    data: list[MessagePublic]
    count: int
    """Frames kept in the log; `offset` counts from the oldest of them."""
    dropped: int
    """Older frames forgotten because the log is bounded."""
    offset: int
    limit: int

    @classmethod
    def page(cls, log: MessageLog, offset: int, limit: int) -> "MessagesPublic":
        return cls(
            data=[MessagePublic.of(message) for message in log.page(offset, limit)],
            count=len(log),
            dropped=log.dropped,
            offset=offset,
            limit=limit,
        )


class MeterValuePublic(BaseModel):
    timestamp: str
    context: str
    source: str
    sampled_value: list[dict[str, Any]]
    received_at: datetime

    @classmethod
    def of(cls, value: MeterValueRecord) -> "MeterValuePublic":
        return cls(
            timestamp=value.timestamp,
            context=value.context,
            source=value.source,
            sampled_value=value.sampled_value,
            received_at=value.received_at,
        )


class TransactionEventPublic(BaseModel):
    event_type: str
    timestamp: str
    trigger_reason: str
    seq_no: int
    offline: bool
    charging_state: str | None
    received_at: datetime

    @classmethod
    def of(cls, event: TransactionEventRecord) -> "TransactionEventPublic":
        return cls(
            event_type=event.event_type,
            timestamp=event.timestamp,
            trigger_reason=event.trigger_reason,
            seq_no=event.seq_no,
            offline=event.offline,
            charging_state=event.charging_state,
            received_at=event.received_at,
        )


class TransactionPublic(BaseModel):
    id: int | str
    charge_point_id: str
    status: str
    connector_id: int | None
    evse_id: int | None
    id_tag: str | None
    id_tag_status: str | None
    started_at: str | None
    stopped_at: str | None
    meter_start: float | None
    meter_stop: float | None
    stop_reason: str | None
    reservation_id: int | None
    charging_state: str | None
    meter_value_count: int

    @classmethod
    def fields_of(cls, transaction: Transaction) -> dict[str, Any]:
        return {
            "id": transaction.id,
            "charge_point_id": transaction.charge_point_id,
            "status": "ended" if transaction.ended else "active",
            "connector_id": transaction.connector_id,
            "evse_id": transaction.evse_id,
            "id_tag": transaction.id_tag,
            "id_tag_status": transaction.id_tag_status,
            "started_at": transaction.started_at,
            "stopped_at": transaction.stopped_at,
            "meter_start": transaction.meter_start,
            "meter_stop": transaction.meter_stop,
            "stop_reason": transaction.stop_reason,
            "reservation_id": transaction.reservation_id,
            "charging_state": transaction.charging_state,
            "meter_value_count": len(transaction.meter_values),
        }

    @classmethod
    def of(cls, transaction: Transaction) -> "TransactionPublic":
        return cls(**cls.fields_of(transaction))


class TransactionDetail(TransactionPublic):
    meter_values: list[MeterValuePublic]
    events: list[TransactionEventPublic]
    """OCPP 2.0.1 only: every TransactionEvent with its seqNo, triggerReason and offline flag."""

    @classmethod
    def of(cls, transaction: Transaction) -> "TransactionDetail":
        return cls(
            **cls.fields_of(transaction),
            meter_values=[MeterValuePublic.of(value) for value in transaction.meter_values],
            events=[TransactionEventPublic.of(event) for event in transaction.events],
        )


class TransactionsPublic(BaseModel):
    data: list[TransactionPublic]
    count: int


class CallPublic(BaseModel):
    action: str
    unique_id: str
    request: dict[str, Any]
    response: dict[str, Any]


class ReportPublic(BaseModel):
    request_id: int
    generated_at: str
    complete: bool
    parts: int
    report_data: list[dict[str, Any]]

    @classmethod
    def of(cls, report: Report) -> "ReportPublic":
        return cls(
            request_id=report.request_id,
            generated_at=report.generated_at,
            complete=report.complete,
            parts=report.parts,
            report_data=report.report_data,
        )


class ReportsPublic(BaseModel):
    reports: list[ReportPublic]
    events: list[dict[str, Any]]
    """NotifyEvent payloads as received, oldest first."""

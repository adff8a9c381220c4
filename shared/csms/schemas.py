"""What the CSMS HTTP API answers, named by role as in the rest of ELU Twins."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.csms.message_log import MessageLog
from shared.csms.state import (
    ChargePointRecord,
    Transaction,
)
from shared.schemas.common import ORMModel


class ConnectorStatusPublic(ORMModel):
    evse_id: int | None
    connector_id: int
    status: str
    error_code: str | None
    info: str | None
    timestamp: str | None
    received_at: datetime


class ChargePointPublic(BaseModel):
    id: str
    connected: bool
    connected_at: datetime | None
    disconnected_at: datetime | None
    connections: int = Field(description="websocket connections accepted for this identity")
    replaced_connections: int = Field(
        description="times a new connection arrived while another was still open (the "
        "older one is closed): a charge point seen twice at once"
    )
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
            connections=record.connections,
            replaced_connections=record.replaced_connections,
            last_message_at=record.messages.last_frame_at,
            subprotocol=record.subprotocol,
            basic_auth_user=record.basic_auth_user,
            boot_status=record.boot_status,
            boot_notification=record.boot_notification,
            booted_at=record.booted_at,
            last_heartbeat=record.last_heartbeat,
            connectors=[
                ConnectorStatusPublic.model_validate(status)
                for _, status in sorted(
                    record.connectors.items(), key=lambda item: (item[0][0] or 0, item[0][1])
                )
            ],
            notifications=record.notifications,
        )


class ChargePointsPublic(BaseModel):
    data: list[ChargePointPublic]
    count: int


class MessagePublic(ORMModel):
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
            data=[MessagePublic.model_validate(message) for message in log.page(offset, limit)],
            count=len(log),
            dropped=log.dropped,
            offset=offset,
            limit=limit,
        )


class MeterValuePublic(ORMModel):
    timestamp: str
    context: str
    source: str
    sampled_value: list[dict[str, Any]]
    received_at: datetime


class TransactionEventPublic(ORMModel):
    event_type: str
    timestamp: str
    trigger_reason: str
    seq_no: int
    offline: bool
    charging_state: str | None
    received_at: datetime


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
            meter_values=[
                MeterValuePublic.model_validate(value) for value in transaction.meter_values
            ],
            events=[TransactionEventPublic.model_validate(event) for event in transaction.events],
        )


class TransactionsPublic(BaseModel):
    data: list[TransactionPublic]
    count: int


class CallPublic(BaseModel):
    action: str
    unique_id: str
    request: dict[str, Any]
    response: dict[str, Any]


class ReportPublic(ORMModel):
    request_id: int
    generated_at: str
    complete: bool
    parts: int
    report_data: list[dict[str, Any]]


class ReportsPublic(BaseModel):
    reports: list[ReportPublic]
    events: list[dict[str, Any]]
    monitoring_reports: list[ReportPublic] = []
    """NotifyMonitoringReport parts per requestId; ``report_data`` holds their monitors."""
    display_messages: list[ReportPublic] = []
    """NotifyDisplayMessages parts per requestId; ``report_data`` holds their messageInfo."""
    """NotifyEvent payloads as received, oldest first."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from shared.schemas.common import ORMModel


class TransactionPublic(ORMModel):
    """A charging session. ``transactionid`` is the CSMS's id; ``energy`` is kWh."""

    created_at: datetime
    updated_at: datetime
    id: uuid.UUID
    start_time: datetime
    end_time: datetime | None
    energy: float
    status: str
    transactionid: str | None
    id_tag: str | None
    meter_start: int
    meter_stop: int | None
    stop_reason: str | None
    connector_id: uuid.UUID | None
    vehicle_id: uuid.UUID | None
    user_id: uuid.UUID
    evse_id: uuid.UUID | None
    charge_point_id: uuid.UUID


class MeterSamplePublic(ORMModel):
    timestamp: datetime
    context: str
    energy_wh: float
    power_w: float
    current_a: float
    voltage_v: float
    soc: float | None
    connector_id: uuid.UUID
    transaction_id: uuid.UUID | None


class MessageLogEntryPublic(ORMModel):
    """One OCPP-J frame; ``direction`` is ``sent`` (to the CSMS) or ``received``."""

    id: int
    timestamp: datetime
    direction: str
    message_type: str
    unique_id: str
    action: str | None
    payload: Any

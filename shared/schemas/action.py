"""Bodies of the actions that act on a running twin (``/twin/charge-point/action/...``)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.schemas.common import Number, RequestBody

Timeout = Field(default=30.0, gt=0, le=300, description="seconds to wait for the twin and CSMS")

ChargePointErrorCode = Literal[
    "ConnectorLockFailure",
    "EVCommunicationError",
    "GroundFailure",
    "HighTemperature",
    "InternalError",
    "LocalListConflict",
    "OtherError",
    "OverCurrentFailure",
    "OverVoltage",
    "PowerMeterFailure",
    "PowerSwitchFailure",
    "ReaderFailure",
    "ResetFailure",
    "UnderVoltage",
    "WeakSignal",
]

StopReason = Literal[
    "DeAuthorized",
    "EmergencyStop",
    "EVDisconnected",
    "HardReset",
    "Local",
    "Other",
    "PowerLoss",
    "Reboot",
    "Remote",
    "SoftReset",
    "UnlockCommand",
]


class ChargePointAction(RequestBody):
    charge_point_id: uuid.UUID
    timeout: Number = Timeout


class StartTransaction(RequestBody):
    connector_id: uuid.UUID
    vehicle_id: uuid.UUID
    id_tag: str | None = Field(
        default=None, max_length=36, description="default: the vehicle's id tag"
    )
    timeout: Number = Timeout


class StopTransaction(RequestBody):
    transaction_id: uuid.UUID
    reason: StopReason = "Local"
    timeout: Number = Timeout


class PlugIn(RequestBody):
    connector_id: uuid.UUID
    vehicle_id: uuid.UUID
    timeout: Number = Timeout


class ConnectorAction(RequestBody):
    connector_id: uuid.UUID
    timeout: Number = Timeout


class DataTransfer(RequestBody):
    charge_point_id: uuid.UUID
    vendor_id: str = Field(min_length=1, max_length=255)
    message_id: str | None = Field(default=None, max_length=50)
    data: Any = Field(default=None, description="any JSON; sent as the spec's data field")
    timeout: Number = Timeout


class DataTransferResult(BaseModel):
    """The CSMS's answer: Accepted, Rejected, UnknownMessageId or UnknownVendorId."""

    status: str
    data: Any = None


class SetFaulted(RequestBody):
    connector_id: uuid.UUID
    error_code: ChargePointErrorCode = "OtherError"
    info: str | None = Field(default=None, max_length=50)
    timeout: Number = Timeout

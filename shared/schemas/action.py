"""Bodies of the actions that act on a running twin (``/twin/charge-point/action/...``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from shared.schemas.common import BULK_MAX_ITEMS, Number, RequestBody

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


class CertificateRequest(RequestBody):
    """A certificate request the charge point sends its CSMS (OCPP security).

    ``SignCertificate``: the twin makes a new key and sends its CSR; the CSMS answers with
    CertificateSigned, after which the twin uses the new certificate. 2.0.1 only:
    ``GetCertificateStatus`` (the OCSP status of the twin's own certificate of
    ``certificate_type``) and ``Get15118EVCertificate`` (what an EV asking for a contract
    certificate makes the station send: ``iso15118_schema_version``, ``action``,
    ``exi_request``).
    """

    charge_point_id: uuid.UUID
    request: Literal["SignCertificate", "GetCertificateStatus", "Get15118EVCertificate"]
    certificate_type: Literal["ChargingStationCertificate", "V2GCertificate"] = (
        "ChargingStationCertificate"
    )
    iso15118_schema_version: str | None = Field(default=None, min_length=1, max_length=50)
    action: Literal["Install", "Update"] | None = None
    exi_request: str | None = Field(
        default=None, min_length=1, max_length=5600, description="base64 EXI from the EV"
    )
    timeout: Number = Timeout

    @model_validator(mode="after")
    def _ev_request_complete(self) -> CertificateRequest:
        if self.request == "Get15118EVCertificate" and None in (
            self.iso15118_schema_version,
            self.action,
            self.exi_request,
        ):
            raise ValueError(
                "Get15118EVCertificate needs iso15118_schema_version, action and exi_request"
            )
        return self


class CertificateRequestResult(BaseModel):
    """The CSMS's answer: its status, and the OCSP result or EXI response it sent."""

    status: str
    ocsp_result: str | None = None
    exi_response: str | None = None


class SetFaulted(RequestBody):
    connector_id: uuid.UUID
    error_code: ChargePointErrorCode = "OtherError"
    info: str | None = Field(default=None, max_length=50)
    timeout: Number = Timeout


FirmwareFailure = Literal["none", "download", "signature", "install"]


class SetFirmwareFailure(RequestBody):
    charge_point_id: uuid.UUID
    firmware_failure: FirmwareFailure = Field(
        description="the step at which the charge point's next firmware updates fail: "
        "`download` (every attempt, so the CSMS's retries run, then DownloadFailed), "
        "`signature` (InvalidSignature), `install` (InstallationFailed); `none` to succeed"
    )
    timeout: Number = Timeout


class FirmwareFailureResult(BaseModel):
    firmware_failure: FirmwareFailure


# -- bulk actions (``.../action/<name>/bulk``) --------------------------------------

#: Longest a bulk action may spread its items out over (items / rate), in seconds.
BULK_MAX_PACING_SECONDS = 300.0

Rate = Field(
    default=None,
    gt=0,
    le=10_000,
    description="items begun per second, spread over the request; default: all at once",
)
BulkTimeout = Field(
    default=30.0,
    gt=0,
    le=300,
    description="seconds each item may take once begun (as for the single action)",
)


def _items(description: str) -> Any:
    return Field(
        min_length=1,
        max_length=BULK_MAX_ITEMS,
        description=f"1 to {BULK_MAX_ITEMS} {description}; send more in several requests",
    )


class BulkRequest(RequestBody):
    """Items (a list in each kind of bulk action), begun ``rate`` per second or all at once."""

    items: Sequence[RequestBody]
    rate: float | None = Rate
    timeout: float = BulkTimeout

    @model_validator(mode="after")
    def _pacing_is_bounded(self) -> BulkRequest:
        items = self.items
        if self.rate is not None and len(items) / self.rate > BULK_MAX_PACING_SECONDS:
            raise ValueError(
                f"{len(items)} items at {self.rate:g} per second take "
                f"{len(items) / self.rate:g} s; at most {BULK_MAX_PACING_SECONDS:g} s per "
                "request: raise the rate or send fewer items"
            )
        return self


class ChargePointItem(RequestBody):
    charge_point_id: uuid.UUID


class StartTransactionItem(RequestBody):
    connector_id: uuid.UUID
    vehicle_id: uuid.UUID
    id_tag: str | None = Field(
        default=None, max_length=36, description="default: the vehicle's id tag"
    )


class StopTransactionItem(RequestBody):
    transaction_id: uuid.UUID
    reason: StopReason = "Local"


class BulkChargePointAction(BulkRequest):
    items: list[ChargePointItem] = _items("charge points")


class BulkStartTransaction(BulkRequest):
    items: list[StartTransactionItem] = _items("(connector, vehicle) pairs")


class BulkStopTransaction(BulkRequest):
    items: list[StopTransactionItem] = _items("transactions")


class BulkItemOutcome(BaseModel):
    """What became of one item: ``status_code`` and ``code`` are what the single action
    would have answered (200, or 404 ``not_found``, 409 ``not_connected``, 504 ``timeout``…)."""

    index: int = Field(description="the item's position in the request, from 0")
    ok: bool
    status_code: int
    code: str | None = None
    detail: str | None = None
    charge_point_id: uuid.UUID | None = None
    transaction_id: uuid.UUID | None = Field(
        default=None, description="the transaction started or stopped"
    )


class BulkActionResult(BaseModel):
    """One outcome per item, in the request's order; one bad item never fails the others."""

    data: list[BulkItemOutcome]
    succeeded: int
    failed: int

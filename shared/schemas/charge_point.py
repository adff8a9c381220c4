from __future__ import annotations

import re
import uuid
from datetime import datetime
from functools import partial
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from shared.schemas.common import (
    Boolean,
    NonNegativeInt32,
    Number,
    ORMModel,
    PartialUpdate,
    RequestBody,
)
from worker.twin.certificates import client_certificate_problem

OcppProtocol = Literal["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]

#: OCPP 2.0.1 ConnectorEnumType (the 1.6 charge point has no connector type on the wire).
ConnectorType = Literal[
    "cCCS1",
    "cCCS2",
    "cG105",
    "cTesla",
    "cType1",
    "cType2",
    "s309-1P-16A",
    "s309-1P-32A",
    "s309-3P-16A",
    "s309-3P-32A",
    "sBS1361",
    "sCEE-7-7",
    "sType2",
    "sType3",
    "Other1PhMax16A",
    "Other1PhOver16A",
    "Other3Ph",
    "Pan",
    "wInductive",
    "wResonant",
    "Undetermined",
    "Unknown",
]

#: The identity is the last segment of the websocket path: unreserved URL characters only,
#: so nothing is escaped or rewritten on the way to the CSMS (``.`` and ``..`` would be).
CID_PATTERN = r"^[A-Za-z0-9._~-]{1,48}$"
CSMS_URL_MAX_LENGTH = 512
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
#: What :func:`check_csms_url` accepts, for the OpenAPI schema: ws:// or wss://, a host
#: name or IPv4 address, an optional port 1-65535 and an optional path; no query.
CSMS_URL_PATTERN = rf"^wss?://[A-Za-z0-9._~-]+(:{_PORT})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$"
CsmsUrlField = partial(
    Field, max_length=CSMS_URL_MAX_LENGTH, json_schema_extra={"pattern": CSMS_URL_PATTERN}
)


#: Characters a PEM client certificate (chain) or key may have.
PEM_MAX_LENGTH = 10000
ClientCertificateField = partial(
    Field,
    max_length=PEM_MAX_LENGTH,
    description="Security profile 3: the charge point's TLS client certificate (PEM, leaf "
    "first), presented over wss://; give client_key with it. A certificate the CSMS signs "
    "later (SignCertificate / CertificateSigned) replaces it in the twin.",
)
#: What the message_log field says (charge points, fleet templates).
MESSAGE_LOG_DESCRIPTION = (
    "Keep every OCPP frame the charge point sends and receives in its message log (and "
    "stream it to live viewers). Turned off, frames are neither stored nor streamed: the "
    "message log keeps what was stored before, while meter values, statuses, transactions "
    "and other events go on as before. Large fleets may turn it off: at 10,000 twins the "
    "message log costs about a fifth of the twin host's CPU."
)
#: ... and, for a charge point, when a change reaches its twin.
CHARGE_POINT_MESSAGE_LOG_DESCRIPTION = (
    f"{MESSAGE_LOG_DESCRIPTION} A change (PATCH) takes effect, as the other settings do, "
    "the next time the charge point connects with no vehicle plugged in."
)

ClientKeyField = partial(
    Field,
    max_length=PEM_MAX_LENGTH,
    description="The private key (PEM, unencrypted) of client_certificate. Write-only: "
    "never shown by the API.",
)


def check_client_certificate(certificate: str | None, key: str | None) -> None:
    """Both or neither, and a key that is the certificate's."""
    if (certificate is None) != (key is None):
        raise ValueError("client_certificate and client_key go together: give both")
    if certificate is not None and key is not None:
        problem = client_certificate_problem(certificate, key)
        if problem is not None:
            raise ValueError(f"client_certificate / client_key: {problem}")


def check_cid(cid: str | None) -> str | None:
    if cid in (".", ".."):
        raise ValueError("must not be . or .. (a URL path would rewrite it)")
    return cid


def check_csms_url(url: str) -> str:
    """A websocket URL the twin appends ``/<cid>`` to, refused here rather than at connect."""
    usage = "must be a websocket URL: ws://host[:port][/path] or wss://..."
    if any(character.isspace() or not character.isprintable() for character in url):
        raise ValueError(f"{usage} (without spaces or control characters)")
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(usage)
    if parts.username or parts.password:
        raise ValueError("must not hold credentials: set the charge point's password instead")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or parts.netloc.endswith(":"):
        raise ValueError(f"{usage}; the port must be a number from 1 to 65535")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ValueError(f"{usage}; no ?query or #fragment (the charge point id ends the path)")
    if not re.fullmatch(CSMS_URL_PATTERN, url):
        raise ValueError(
            f"{usage}; lower-case scheme, a host of letters, digits and . _ ~ - (no IPv6 "
            "literal), a port without leading zeros, a path of URL characters"
        )
    return url.rstrip("/")


class ConnectorCreate(RequestBody):
    connector_type: ConnectorType = "cType2"


class EvseCreate(RequestBody):
    connectors: list[ConnectorCreate] = Field(
        default_factory=lambda: [ConnectorCreate()],
        min_length=1,
        max_length=8,
        description="1 to 8 connectors",
    )


class ChargePointCreate(RequestBody):
    """A charge point twin. ``cid`` is the identity the CSMS sees; generated when not given."""

    name: str = Field(min_length=1, max_length=100)
    cid: str | None = Field(default=None, pattern=CID_PATTERN)
    vendor: str = Field(default="Elu Twin", min_length=1, max_length=20)
    model: str = Field(default="Digital Twin", min_length=1, max_length=20)
    serial_number: str | None = Field(default=None, max_length=25)
    firmware_version: str = Field(default="0.2.0", max_length=50)
    password: str | None = Field(
        default=None, min_length=1, max_length=64, description="HTTP basic auth (profile 1)"
    )
    csms_url: str = CsmsUrlField(examples=["ws://localhost:9000"])
    ocpp_protocol: OcppProtocol = "ocpp1.6"
    voltage_ac: Number = Field(default=230, gt=0, le=1000)
    voltage_dc: Number = Field(default=400, gt=0, le=1500)
    phases: int = Field(default=3, ge=1, le=3, description="AC phases the charge point uses")
    maximum_dc_power: Number = Field(default=50, ge=0, le=1000, description="kW")
    maximum_ac_power: Number = Field(default=22, ge=0, le=100, description="kW")
    speed_factor: Number = Field(
        default=1.0, gt=0, le=3600, description="simulated seconds per real second"
    )
    token_cost_per_minute: NonNegativeInt32 = 2
    message_log: Boolean = Field(default=True, description=CHARGE_POINT_MESSAGE_LOG_DESCRIPTION)
    evses: list[EvseCreate] = Field(
        default_factory=lambda: [EvseCreate()], min_length=1, max_length=32, description="1 to 32"
    )
    ocpp_configuration: dict[str, str] = Field(
        default_factory=dict, description="initial OCPP 1.6 keys / 2.0.1 variables"
    )
    client_certificate: str | None = ClientCertificateField(default=None)
    client_key: str | None = ClientKeyField(default=None)

    _url = field_validator("csms_url")(classmethod(lambda cls, v: check_csms_url(v)))
    _cid = field_validator("cid")(classmethod(lambda cls, v: check_cid(v)))

    @model_validator(mode="after")
    def _client_certificate(self) -> ChargePointCreate:
        check_client_certificate(self.client_certificate, self.client_key)
        return self


class ChargePointUpdate(PartialUpdate):
    """Changes take effect the next time the charge point connects.

    ``ocpp_configuration`` values are merged into the stored ones (only while the
    charge point is not connected); ``password: null`` removes the password;
    ``client_certificate`` and ``client_key`` change together (``null`` both: removed).
    """

    nullable = frozenset({"password", "client_certificate", "client_key"})

    name: str | None = Field(default=None, min_length=1, max_length=100)
    password: str | None = Field(default=None, min_length=1, max_length=64)
    csms_url: str | None = CsmsUrlField(default=None)
    voltage_ac: Number | None = Field(default=None, gt=0, le=1000)
    voltage_dc: Number | None = Field(default=None, gt=0, le=1500)
    phases: int | None = Field(default=None, ge=1, le=3)
    maximum_dc_power: Number | None = Field(default=None, ge=0, le=1000)
    maximum_ac_power: Number | None = Field(default=None, ge=0, le=100)
    speed_factor: Number | None = Field(default=None, gt=0, le=3600)
    message_log: Boolean | None = Field(
        default=None, description=CHARGE_POINT_MESSAGE_LOG_DESCRIPTION
    )
    ocpp_configuration: dict[str, str] | None = None
    client_certificate: str | None = ClientCertificateField(default=None)
    client_key: str | None = ClientKeyField(default=None)

    @field_validator("csms_url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        return None if url is None else check_csms_url(url)

    @model_validator(mode="after")
    def _client_certificate(self) -> ChargePointUpdate:
        given = {"client_certificate", "client_key"} & self.model_fields_set
        if given and given != {"client_certificate", "client_key"}:
            raise ValueError("client_certificate and client_key go together: give both")
        check_client_certificate(self.client_certificate, self.client_key)
        return self


class ConnectorPublic(ORMModel):
    created_at: datetime
    updated_at: datetime
    id: uuid.UUID
    connectorid: int
    status: str
    error_code: str | None
    current_dc_power: float
    current_dc_current: float
    current_dc_voltage: float
    current_ac_power: float
    current_ac_current: float
    current_ac_voltage: float
    current_energy: float
    total_energy: float
    soc: float | None
    connector_type: str
    id_tag: str | None
    transactionid: str | None
    queued_action: list[str]
    transaction_id: uuid.UUID | None
    vehicle_id: uuid.UUID | None
    evse_id: uuid.UUID
    charge_point_id: uuid.UUID


class EvsePublic(ORMModel):
    created_at: datetime
    updated_at: datetime
    id: uuid.UUID
    evseid: int
    status: str
    active_connector_id: uuid.UUID | None
    charge_point_id: uuid.UUID
    connectors: list[ConnectorPublic]


class ChargePointPublic(ORMModel):
    id: uuid.UUID
    name: str
    cid: str
    vendor: str
    model: str
    serial_number: str | None
    firmware_version: str
    password: str | None
    client_certificate: str | None
    csms_url: str
    ocpp_protocol: str
    boot_reason: str | None
    voltage_ac: float
    voltage_dc: float
    phases: int
    maximum_dc_power: float
    maximum_ac_power: float
    speed_factor: float
    message_log: bool = Field(description="whether OCPP frames are kept in the message log")
    status: str
    connected: bool
    desired_state: str
    host: str | None
    charge_point_task_id: str | None
    last_heartbeat: datetime | None
    token_cost_per_minute: int
    quota_id: uuid.UUID | None
    ocpp_configuration_id: uuid.UUID | None
    ocpp_configuration: dict[str, str]
    created_at: datetime
    updated_at: datetime
    evses: list[EvsePublic]
    user_id: uuid.UUID

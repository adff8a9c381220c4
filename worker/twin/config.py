"""What a twin is told about itself when it is created.

Plain dataclasses built by the host from the stored charge point; the twin
never reads the database itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

OcppProtocol = Literal["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]
CurrentType = Literal["AC", "DC"]

#: OCPP 2.0.1 ConnectorEnumType values that deliver direct current.
DC_CONNECTOR_TYPES = frozenset({"cCCS1", "cCCS2", "cG105", "cTesla", "cLECCS", "cChaoJi", "cMCS"})


def current_type_of(connector_type: str) -> CurrentType:
    """Whether a connector of this type delivers AC or DC."""
    return "DC" if connector_type in DC_CONNECTOR_TYPES else "AC"


@dataclass(frozen=True, slots=True)
class ConnectorConfig:
    """One connector.

    ``connector_id`` is numbered across the whole charge point (1..N), which is
    what OCPP 1.6 calls connectorId. ``evse_connector_id`` is numbered within
    its EVSE (1..n), which is what OCPP 2.0.1 calls connectorId.
    """

    connector_id: int
    evse_connector_id: int
    connector_type: str = "cType2"
    register_wh: float = 0.0

    @property
    def current_type(self) -> CurrentType:
        return current_type_of(self.connector_type)


@dataclass(frozen=True, slots=True)
class EvseConfig:
    evse_id: int
    connectors: tuple[ConnectorConfig, ...]


@dataclass(frozen=True, slots=True)
class ChargePointConfig:
    """Identity, electrical limits and CSMS connection of one charge point twin.

    ``charge_point_id`` is the opaque id the host uses (the database id);
    ``cid`` is the identity the CSMS sees at the end of the websocket URL.
    ``speed`` scales simulated time: 60 means one simulated hour per real minute.
    ``ocpp_configuration`` holds stored values that override the defaults
    (OCPP 1.6 keys, or OCPP 2.0.1 variables keyed as the device model does).
    ``message_log`` False: the twin's frames become no FrameLogged (not stored, not streamed).
    """

    charge_point_id: str
    cid: str
    protocol: OcppProtocol
    csms_url: str
    evses: tuple[EvseConfig, ...]
    password: str | None = None
    vendor: str = "Elu Twin"
    model: str = "Digital Twin"
    serial_number: str | None = None
    firmware_version: str = "0.2.0"
    voltage_ac: float = 230.0
    voltage_dc: float = 400.0
    phases_ac: int = 3
    maximum_ac_power: float = 22.0
    maximum_dc_power: float = 50.0
    speed: float = 1.0
    message_log: bool = True
    ca_file: str | None = None
    #: Security profile 3: the charge point's TLS client certificate (PEM, leaf first) and
    #: its private key (PEM), given by the user; a certificate the CSMS signs later (through
    #: SignCertificate / CertificateSigned) replaces them in the twin's certificate store.
    client_certificate: str | None = None
    client_key: str | None = None
    ocpp_configuration: dict[str, str] = field(default_factory=dict)

    def connectors(self) -> list[tuple[EvseConfig, ConnectorConfig]]:
        return [(evse, connector) for evse in self.evses for connector in evse.connectors]

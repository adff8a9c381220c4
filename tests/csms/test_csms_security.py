"""The bundled CSMSs and OCPP security: mutual TLS (security profile 3), signing the CSRs of
SignCertificate with their CA, and the 2.0.1 certificate requests of a charging station.

Real twins connect to the real CSMS apps served by uvicorn over TLS; the CSMS-initiated
calls go through the CSMS's HTTP API.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from csms_v16.app import create_app as create_csms_v16
from csms_v201.app import create_app as create_csms_v201
from shared.csms.certificates import (
    CertificateAuthority,
    CsmsTlsSettings,
    TlsWebSocketProtocol,
)
from tests.csms.server import RunningCsms, serve
from tests.pki import Pki
from tests.twin.scripted_csms import EventLog, eventually
from tests.twin.scripted_csms import make_config as make_config16
from tests.twin.scripted_csms201 import make_config as make_config201
from worker.twin import security
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import SystemClock
from worker.twin.errors import NotConnected


class MutualTls:
    """Files of a CA, a CSMS certificate for localhost and an API client certificate."""

    def __init__(self, directory: Path) -> None:
        self.pki = Pki()
        server = self.pki.server()
        self.ca_file = Pki.write(directory, "ca.pem", self.pki.ca.pem)
        self.server = (
            Pki.write(directory, "server.pem", server.pem),
            Pki.write(directory, "server.key", server.key_pem),
        )
        operator = self.pki.client("operator")
        self.api_context = ssl.create_default_context(cafile=self.ca_file)
        self.api_context.load_cert_chain(
            Pki.write(directory, "operator.pem", operator.pem),
            Pki.write(directory, "operator.key", operator.key_pem),
        )

    def authority(self) -> CertificateAuthority:
        return CertificateAuthority(self.pki.ca.pem, self.pki.ca.key_pem)


@pytest.fixture
def events() -> EventLog:
    return EventLog()


def statuses(csms: RunningCsms, cid: str) -> int:
    record = csms.state.charge_points.get(cid)
    if record is None:
        return 0
    return sum(
        1
        for frame in record.messages.page(0, len(record.messages))
        if frame.action == "StatusNotification" and frame.message_type == "CALL"
    )


async def test_v16_mutual_tls_and_a_certificate_signed_by_the_csms(
    tmp_path: Path, events: EventLog
) -> None:
    tls = MutualTls(tmp_path)
    app = create_csms_v16()
    app.state.csms.certificate_authority = tls.authority()
    async with serve(app, tls.server, client_ca=tls.ca_file, api_verify=tls.api_context) as csms:
        # Without a client certificate the CSMS lets nobody in; the twin says why and retries.
        anonymous = ChargePointTwin(
            make_config16(csms.ws_url, cid="CP9", ca_file=tls.ca_file),
            SystemClock(speed=600),
            events,
        )
        await anonymous.start()
        with pytest.raises(NotConnected, match="client certificate"):
            await anonymous.connected(timeout=3)
        assert "CP9" not in csms.state.charge_points
        await anonymous.close()

        # A certificate of the CA, but for another identity: refused too (HTTP 403).
        impostor_certificate = tls.pki.client("CP-OTHER")
        impostor = ChargePointTwin(
            make_config16(
                csms.ws_url,
                cid="CP8",
                ca_file=tls.ca_file,
                client_certificate=impostor_certificate.pem,
                client_key=impostor_certificate.key_pem,
            ),
            SystemClock(speed=600),
            events,
        )
        await impostor.start()
        with pytest.raises(NotConnected, match="HTTP 403"):
            await impostor.connected(timeout=3)
        assert "CP8" not in csms.state.charge_points
        await impostor.close()

        first = tls.pki.client("CP1")
        twin = ChargePointTwin(
            make_config16(
                csms.ws_url,
                ca_file=tls.ca_file,
                client_certificate=first.pem,
                client_key=first.key_pem,
            ),
            SystemClock(speed=600),
            events,
        )
        try:
            await twin.start()
            await twin.connected(timeout=10)
            before = statuses(csms, "CP1")

            response = await csms.api.post(
                "/api/charge-points/CP1/calls/ExtendedTriggerMessage",
                json={"requestedMessage": "SignChargePointCertificate"},
            )
            assert response.status_code == 200, response.text
            assert response.json()["response"] == {"status": "Accepted"}

            # SignCertificate → the CSMS signs → CertificateSigned → the twin takes it ...
            record = csms.state.charge_points["CP1"]
            await eventually(lambda: "CertificateSigned" in record.notifications, timeout=10)
            assert record.notifications["CertificateSigned"] == {"status": "Accepted"}
            own = twin.certificates.client_certificate
            assert own is not None and own.chain != first.pem
            leaf = x509.load_pem_x509_certificate(own.chain.encode())
            assert leaf.issuer == tls.pki.ca.certificate.subject
            assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP1"

            # ... and connects again with it: the CSMS hears the statuses of a new connection.
            await eventually(lambda: statuses(csms, "CP1") > before, timeout=15)
            await twin.connected(timeout=10)
            configuration = await csms.api.post(
                "/api/charge-points/CP1/calls/GetConfiguration", json={"key": ["SecurityProfile"]}
            )
            assert configuration.json()["response"]["configurationKey"][0]["value"] == "3"
        finally:
            await twin.close()


async def test_v201_signs_only_csrs_of_the_charging_station_itself(events: EventLog) -> None:
    """Over ws (profile 1 CSMS with a CA): SignChargingStationCertificate ends in a
    certificate for CS1; a CSR whose CN is another identity is Rejected."""
    pki = Pki()
    app = create_csms_v201()
    app.state.csms.certificate_authority = CertificateAuthority(pki.ca.pem, pki.ca.key_pem)
    async with serve(app) as csms:
        twin = ChargePointTwin(make_config201(csms.ws_url), SystemClock(speed=600), events)
        try:
            await twin.start()
            await twin.connected(timeout=10)
            response = await csms.api.post(
                "/api/charge-points/CS1/calls/TriggerMessage",
                json={"requestedMessage": "SignChargingStationCertificate"},
            )
            assert response.json()["response"]["status"] == "Accepted"
            record = csms.state.charge_points["CS1"]
            await eventually(lambda: "CertificateSigned" in record.notifications, timeout=10)
            assert record.notifications["CertificateSigned"]["status"] == "Accepted"
            assert twin.certificates.client_certificate is not None

            # A CSR for someone else's identity.
            csr = twin.certificates.make_csr("CS2", "ELU Twins", "ChargingStationCertificate")
            assert (
                await twin.adapter.send_sign_certificate(  # type: ignore[attr-defined]
                    csr, "ChargingStationCertificate"
                )
                == "Rejected"
            )

            # The charging-station-initiated certificate requests are answered.
            status, exi = await security.get_15118_ev_certificate(
                twin.adapter, "urn:iso:15118:2:2013:MsgDef", "Install", "cmVxdWVzdA=="
            )
            assert status == "Accepted" and exi
            answer = await twin.adapter.send_get_certificate_status(  # type: ignore[attr-defined]
                security.ocsp_request_data(twin.certificates, "ChargingStationCertificate")
            )
            assert answer["status"] == "Accepted" and answer["ocspResult"]

            installed = await csms.api.post(
                "/api/charge-points/CS1/calls/GetInstalledCertificateIds", json={}
            )
            assert installed.json()["response"] == {"status": "NotFound"}
        finally:
            await twin.close()


async def test_v16_without_a_ca_rejects_sign_certificate(events: EventLog) -> None:
    async with serve(create_csms_v16()) as csms:
        twin = ChargePointTwin(make_config16(csms.ws_url), SystemClock(speed=600), events)
        try:
            await twin.start()
            await twin.connected(timeout=10)
            csr = twin.certificates.make_csr("CP1", "ELU Twins", "ChargingStationCertificate")
            assert (
                await twin.adapter.send_sign_certificate(  # type: ignore[attr-defined]
                    csr, "ChargingStationCertificate"
                )
                == "Rejected"
            )
        finally:
            await twin.close()


def test_tls_settings_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tls = MutualTls(tmp_path)
    monkeypatch.setenv("ELU_CSMS_TLS_CERT", tls.server[0])
    monkeypatch.setenv("ELU_CSMS_TLS_KEY", tls.server[1])
    monkeypatch.setenv("ELU_CSMS_TLS_CLIENT_CA", tls.ca_file)
    monkeypatch.setenv("ELU_CSMS_CA_CERT", tls.ca_file)
    monkeypatch.setenv("ELU_CSMS_CA_KEY", Pki.write(tmp_path, "ca.key", tls.pki.ca.key_pem))
    settings = CsmsTlsSettings()
    assert settings.uvicorn_options() == {
        "ssl_certfile": tls.server[0],
        "ssl_keyfile": tls.server[1],
        "ssl_ca_certs": tls.ca_file,
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ws": TlsWebSocketProtocol,
    }
    assert create_csms_v201().state.csms.certificate_authority is not None

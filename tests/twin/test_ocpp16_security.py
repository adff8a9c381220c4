"""OCPP 1.6 Security Whitepaper (edition 3) against a scripted CSMS: certificate
management, ExtendedTriggerMessage, security events, and security profile 3 (mutual TLS).

Every CALL the twin sends is checked against the 1.6 schemas by the scripted CSMS.
"""

from __future__ import annotations

import hashlib
import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from ocpp.v16 import call

from tests.pki import Pki
from tests.twin.firmware_checks import no_invalid_frames
from tests.twin.scripted_csms import (
    EventLog,
    ScriptedCsms,
    eventually,
    make_config,
)
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import SystemClock
from worker.twin.errors import NotConnected


def expected_hash_data(certificate: x509.Certificate) -> dict[str, str]:
    """Hash data of a self-signed root, computed here independently of the twin."""
    public_key = certificate.public_key()
    key_bits = public_key.public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": hashlib.sha256(certificate.issuer.public_bytes()).hexdigest(),
        "issuer_key_hash": hashlib.sha256(key_bits).hexdigest(),
        "serial_number": format(certificate.serial_number, "x"),
    }


# -- certificate management --------------------------------------------------------------


async def test_install_list_and_delete_root_certificates(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    csms_root, manufacturer_root = Pki("CSMS Root"), Pki("Manufacturer Root")
    for use, pki in (
        ("CentralSystemRootCertificate", csms_root),
        ("ManufacturerRootCertificate", manufacturer_root),
    ):
        result = await csms.call(
            "CP1", call.InstallCertificate(certificate_type=use, certificate=pki.ca.pem)
        )
        assert result.status == "Accepted"

    ids = await csms.call(
        "CP1", call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate")
    )
    assert ids.status == "Accepted"
    assert ids.certificate_hash_data == [expected_hash_data(csms_root.ca.certificate)]

    # The CSMS installed a root: its security parameters changed.
    event = await csms.wait_for("SecurityEventNotification")
    assert event.payload["type"] == "ReconfigurationOfSecurityParameters"

    deleted = await csms.call(
        "CP1",
        call.DeleteCertificate(certificate_hash_data=expected_hash_data(csms_root.ca.certificate)),
    )
    assert deleted.status == "Accepted"
    again = await csms.call(
        "CP1",
        call.DeleteCertificate(certificate_hash_data=expected_hash_data(csms_root.ca.certificate)),
    )
    assert again.status == "NotFound"
    ids = await csms.call(
        "CP1", call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate")
    )
    assert ids.status == "NotFound"
    ids = await csms.call(
        "CP1", call.GetInstalledCertificateIds(certificate_type="ManufacturerRootCertificate")
    )
    assert ids.certificate_hash_data == [expected_hash_data(manufacturer_root.ca.certificate)]

    garbage = await csms.call(
        "CP1",
        call.InstallCertificate(
            certificate_type="ManufacturerRootCertificate", certificate="not a certificate"
        ),
    )
    assert garbage.status == "Rejected"
    no_invalid_frames(csms)


async def test_sign_certificate_then_certificate_signed(
    twin: ChargePointTwin, csms: ScriptedCsms
) -> None:
    pki = Pki()
    result = await csms.call(
        "CP1", call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate")
    )
    assert result.status == "Accepted"
    request = await csms.wait_for("SignCertificate")
    csr = x509.load_pem_x509_csr(request.payload["csr"].encode())
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == "O=ELU Twins,CN=CP1"

    # A certificate for another key is refused, and the CSMS hears of it.
    stranger = pki.client("CP1")
    refused = await csms.call("CP1", call.CertificateSigned(certificate_chain=stranger.pem))
    assert refused.status == "Rejected"
    event = await csms.wait_for("SecurityEventNotification")
    assert event.payload["type"] == "InvalidChargePointCertificate"

    signed = pki.sign_csr(request.payload["csr"])
    accepted = await csms.call("CP1", call.CertificateSigned(certificate_chain=signed))
    assert accepted.status == "Accepted"
    assert twin.certificates.client_certificate is not None
    assert twin.certificates.client_certificate.chain == signed
    no_invalid_frames(csms)


async def test_installed_certificates_and_key_survive_a_restart(
    twin: ChargePointTwin, csms: ScriptedCsms, events: EventLog
) -> None:
    pki = Pki()
    await csms.call(
        "CP1",
        call.InstallCertificate(
            certificate_type="CentralSystemRootCertificate", certificate=pki.ca.pem
        ),
    )
    await csms.call(
        "CP1", call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate")
    )
    request = await csms.wait_for("SignCertificate")
    signed = pki.sign_csr(request.payload["csr"])
    assert (await csms.call("CP1", call.CertificateSigned(certificate_chain=signed))).status == (
        "Accepted"
    )
    state = twin.save_state()
    await twin.close()

    restored = ChargePointTwin(make_config(csms.url), SystemClock(speed=600), events)
    restored.restore_state(state, resume=True, last_alive=datetime.now(UTC))
    own = restored.certificates.client_certificate
    assert own is not None and own.chain == signed
    key = serialization.load_pem_private_key(own.key.encode(), None)
    leaf = x509.load_pem_x509_certificate(signed.encode())
    assert key.public_key() == leaf.public_key()
    await restored.start()
    await restored.connected(timeout=5)
    ids = await csms.call(
        "CP1", call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate")
    )
    assert ids.certificate_hash_data == [expected_hash_data(pki.ca.certificate)]
    await restored.close()


async def test_extended_trigger_message(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    for requested, action in (
        ("Heartbeat", "Heartbeat"),
        ("StatusNotification", "StatusNotification"),
        ("MeterValues", "MeterValues"),
        ("FirmwareStatusNotification", "SignedFirmwareStatusNotification"),
        ("LogStatusNotification", "LogStatusNotification"),
    ):
        before = len(csms.of(action))
        result = await csms.call("CP1", call.ExtendedTriggerMessage(requested_message=requested))
        assert result.status == "Accepted", requested
        await csms.wait_for(action, count=before + 1)
    result = await csms.call(
        "CP1", call.ExtendedTriggerMessage(requested_message="MeterValues", connector_id=9)
    )
    assert result.status == "Rejected"
    no_invalid_frames(csms)


async def test_security_configuration_keys(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    result = await csms.call(
        "CP1",
        call.GetConfiguration(key=["SecurityProfile", "CpoName", "CertificateStoreMaxLength"]),
    )
    values = {item["key"]: item["value"] for item in result.configuration_key}
    assert values == {
        "SecurityProfile": "0",
        "CpoName": "ELU Twins",
        "CertificateStoreMaxLength": "20",
    }


async def test_reset_reports_reset_or_reboot(twin: ChargePointTwin, csms: ScriptedCsms) -> None:
    assert (await csms.call("CP1", call.Reset(type="Soft"))).status == "Accepted"
    await csms.wait_for("BootNotification", count=2)
    event = await csms.wait_for("SecurityEventNotification")
    assert event.payload["type"] == "ResetOrReboot"
    no_invalid_frames(csms)


# -- security profile 3: mutual TLS ------------------------------------------------------------


def mtls_context(pki: Pki, directory: Path) -> ssl.SSLContext:
    """A CSMS's server context that requires a client certificate signed by ``pki``."""
    server = pki.server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(
        Pki.write(directory, "server.pem", server.pem),
        Pki.write(directory, "server.key", server.key_pem),
    )
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=pki.ca.pem)
    return context


def serial_of(der: bytes | None) -> int:
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


async def test_profile_3_connects_with_a_client_certificate_and_renews_it(
    tmp_path: Path, events: EventLog
) -> None:
    pki = Pki()
    csms = await ScriptedCsms(ssl_context=mtls_context(pki, tmp_path)).start()
    ca_file = Pki.write(tmp_path, "ca.pem", pki.ca.pem)
    first = pki.client("CP1")
    twin = ChargePointTwin(
        make_config(
            csms.url, ca_file=ca_file, client_certificate=first.pem, client_key=first.key_pem
        ),
        SystemClock(speed=600),
        events,
    )
    try:
        await twin.start()
        await twin.connected(timeout=10)
        assert serial_of(csms.peer_certificates[-1]) == first.certificate.serial_number
        profile = await csms.call("CP1", call.GetConfiguration(key=["SecurityProfile"]))
        assert profile.configuration_key[0]["value"] == "3"

        await csms.call(
            "CP1", call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate")
        )
        request = await csms.wait_for("SignCertificate")
        signed = pki.sign_csr(request.payload["csr"])
        result = await csms.call("CP1", call.CertificateSigned(certificate_chain=signed))
        assert result.status == "Accepted"

        # The twin reconnects at once, presenting the new certificate, without booting.
        await eventually(lambda: csms.connection_count == 2, timeout=10)
        await twin.connected(timeout=10)
        new_serial = x509.load_pem_x509_certificate(signed.encode()).serial_number
        assert serial_of(csms.peer_certificates[-1]) == new_serial
        assert len(csms.of("BootNotification")) == 1
        event = await csms.wait_for(
            "SecurityEventNotification",
            lambda p: p["type"] == "ReconfigurationOfSecurityParameters",
            timeout=10,
        )
        assert event.valid
        no_invalid_frames(csms)
    finally:
        await twin.close()
        await csms.stop()


async def test_profile_3_without_a_client_certificate_is_refused_and_retries(
    tmp_path: Path, events: EventLog
) -> None:
    pki = Pki()
    csms = await ScriptedCsms(ssl_context=mtls_context(pki, tmp_path)).start()
    ca_file = Pki.write(tmp_path, "ca.pem", pki.ca.pem)
    twin = ChargePointTwin(make_config(csms.url, ca_file=ca_file), SystemClock(speed=600), events)
    try:
        await twin.start()
        with pytest.raises(NotConnected, match="TLS with CSMS at wss://") as refused:
            await twin.connected(timeout=3)
        assert "client certificate" in str(refused.value)
        assert csms.connection_count == 0
        # Still trying (with back-off), not crashed: a certificate given later gets it in.
        assert twin._loop_task is not None and not twin._loop_task.done()
        client = pki.client("CP1")
        twin.certificates.take_configured(client.pem, client.key_pem)
        await twin.connected(timeout=15)
        assert csms.connection_count == 1
    finally:
        await twin.close()
        await csms.stop()


async def test_untrusted_csms_certificate_is_reported_once_connected(
    tmp_path: Path, events: EventLog
) -> None:
    pki, other = Pki(), Pki("Someone Else")
    server = pki.server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(
        Pki.write(tmp_path, "server.pem", server.pem),
        Pki.write(tmp_path, "server.key", server.key_pem),
    )
    csms = await ScriptedCsms(ssl_context=context).start()
    twin = ChargePointTwin(
        make_config(csms.url, ca_file=Pki.write(tmp_path, "other.pem", other.ca.pem)),
        SystemClock(speed=600),
        events,
    )
    try:
        await twin.start()
        with pytest.raises(Exception, match="certificate verify failed"):
            await twin.connected(timeout=3)
        # Trusting the right root (as an InstallCertificate would) lets it in.
        twin.certificates.install("CSMSRootCertificate", pki.ca.pem, datetime.now(UTC))
        await twin.connected(timeout=15)
        event = await csms.wait_for("SecurityEventNotification", timeout=10)
        assert event.payload["type"] == "InvalidCentralSystemCertificate"
        assert event.valid
    finally:
        await twin.close()
        await csms.stop()

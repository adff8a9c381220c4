"""OCPP 2.0.1 security against a scripted CSMS: certificate management (A02, A03, M03-M06),
TriggerMessage Sign*Certificate, Get15118EVCertificate, GetCertificateStatus, security
events, and security profile 3 (mutual TLS).

Every CALL the twin sends is checked against the 2.0.1 schemas by the scripted CSMS.
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from ocpp.v201 import call

from tests.pki import Pki
from tests.twin.firmware_checks import no_invalid_frames
from tests.twin.scripted_csms201 import (
    EventLog,
    ScriptedCsms201,
    eventually,
    make_config,
)
from worker.twin import security
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import SystemClock
from worker.twin.errors import NotConnected

CSMS_TYPE = ScriptedCsms201


def hash_data(certificate: x509.Certificate, issuer: x509.Certificate) -> dict[str, str]:
    """CertificateHashDataType, computed here independently of the twin (EC keys)."""
    key_bits = issuer.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": hashlib.sha256(certificate.issuer.public_bytes()).hexdigest(),
        "issuer_key_hash": hashlib.sha256(key_bits).hexdigest(),
        "serial_number": format(certificate.serial_number, "x"),
    }


async def test_install_list_by_type_and_delete(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    roots = {
        use: Pki(use)
        for use in (
            "V2GRootCertificate",
            "MORootCertificate",
            "CSMSRootCertificate",
            "ManufacturerRootCertificate",
        )
    }
    for use, pki in roots.items():
        result = await csms.call(
            "CS1", call.InstallCertificate(certificate_type=use, certificate=pki.ca.pem)
        )
        assert result.status == "Accepted", use

    every = await csms.call("CS1", call.GetInstalledCertificateIds())
    assert every.status == "Accepted"
    assert {c["certificate_type"] for c in every.certificate_hash_data_chain} == set(roots)

    v2g = roots["V2GRootCertificate"].ca.certificate
    some = await csms.call(
        "CS1",
        call.GetInstalledCertificateIds(
            certificate_type=["V2GRootCertificate", "MORootCertificate"]
        ),
    )
    assert [c["certificate_type"] for c in some.certificate_hash_data_chain] == [
        "V2GRootCertificate",
        "MORootCertificate",
    ]
    assert some.certificate_hash_data_chain[0]["certificate_hash_data"] == hash_data(v2g, v2g)

    deleted = await csms.call(
        "CS1", call.DeleteCertificate(certificate_hash_data=hash_data(v2g, v2g))
    )
    assert deleted.status == "Accepted"
    gone = await csms.call(
        "CS1", call.GetInstalledCertificateIds(certificate_type=["V2GRootCertificate"])
    )
    assert gone.status == "NotFound"
    unknown = await csms.call(
        "CS1", call.DeleteCertificate(certificate_hash_data=hash_data(v2g, v2g))
    )
    assert unknown.status == "NotFound"

    expired_or_garbage = await csms.call(
        "CS1",
        call.InstallCertificate(certificate_type="MORootCertificate", certificate="-----BEGIN"),
    )
    assert expired_or_garbage.status == "Rejected"
    no_invalid_frames(csms)


async def test_charging_station_certificate_signed_and_not_deletable(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    pki = Pki()
    trigger = await csms.call(
        "CS1", call.TriggerMessage(requested_message="SignChargingStationCertificate")
    )
    assert trigger.status == "Accepted"
    request = await csms.wait_for("SignCertificate")
    assert request.payload["certificateType"] == "ChargingStationCertificate"
    csr = x509.load_pem_x509_csr(request.payload["csr"].encode())
    assert csr.subject.rfc4514_string() == "O=ELU Twins,CN=CS1"

    signed = pki.sign_csr(request.payload["csr"])
    result = await csms.call(
        "CS1",
        call.CertificateSigned(
            certificate_chain=signed, certificate_type="ChargingStationCertificate"
        ),
    )
    assert result.status == "Accepted"
    event = await csms.wait_for("SecurityEventNotification")
    assert event.payload["type"] == "ReconfigurationOfSecurityParameters"

    # The twin does not give up its own certificate.
    leaf = x509.load_pem_x509_certificate(signed.encode())
    refused = await csms.call(
        "CS1", call.DeleteCertificate(certificate_hash_data=hash_data(leaf, pki.ca.certificate))
    )
    assert refused.status == "Failed"

    # A second CertificateSigned without a new CSR is rejected, and reported.
    again = await csms.call("CS1", call.CertificateSigned(certificate_chain=signed))
    assert again.status == "Rejected"
    event = await csms.wait_for(
        "SecurityEventNotification", lambda p: p["type"] == "InvalidChargingStationCertificate"
    )
    assert event.valid
    no_invalid_frames(csms)


async def test_v2g_certificate_then_its_ocsp_status(
    twin: ChargePointTwin, csms: ScriptedCsms201
) -> None:
    pki = Pki()
    csms.answer("GetCertificateStatus", {"status": "Accepted", "ocspResult": "MAA="})
    trigger = await csms.call("CS1", call.TriggerMessage(requested_message="SignV2GCertificate"))
    assert trigger.status == "Accepted"
    request = await csms.wait_for("SignCertificate")
    assert request.payload["certificateType"] == "V2GCertificate"
    signed = pki.sign_csr(request.payload["csr"])
    chain = signed + pki.ca.pem
    result = await csms.call(
        "CS1", call.CertificateSigned(certificate_chain=chain, certificate_type="V2GCertificate")
    )
    assert result.status == "Accepted"

    # The station asks the CSMS for its new certificate's OCSP status.
    status = await csms.wait_for("GetCertificateStatus")
    leaf = x509.load_pem_x509_certificate(signed.encode())
    expected = {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hashlib.sha256(leaf.issuer.public_bytes()).hexdigest(),
        "serialNumber": format(leaf.serial_number, "x"),
    }
    assert {k: status.payload["ocspRequestData"][k] for k in expected} == expected

    # Its chain is reported as V2GCertificateChain, leaf first, the CA as the child.
    ids = await csms.call(
        "CS1", call.GetInstalledCertificateIds(certificate_type=["V2GCertificateChain"])
    )
    chain_ids = ids.certificate_hash_data_chain[0]
    assert chain_ids["certificate_type"] == "V2GCertificateChain"
    assert chain_ids["certificate_hash_data"] == hash_data(leaf, pki.ca.certificate)
    assert chain_ids["child_certificate_hash_data"] == [
        hash_data(pki.ca.certificate, pki.ca.certificate)
    ]
    no_invalid_frames(csms)


async def test_get_15118_ev_certificate(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    csms.answer("Get15118EVCertificate", {"status": "Accepted", "exiResponse": "ZXhp"})
    status, exi = await security.get_15118_ev_certificate(
        twin.adapter, "urn:iso:15118:2:2013:MsgDef", "Install", "cmVxdWVzdA=="
    )
    assert (status, exi) == ("Accepted", "ZXhp")
    request = await csms.wait_for("Get15118EVCertificate")
    assert request.payload == {
        "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
        "action": "Install",
        "exiRequest": "cmVxdWVzdA==",
    }
    no_invalid_frames(csms)


async def test_security_variables(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    pki = Pki()
    await csms.call(
        "CS1", call.InstallCertificate(certificate_type="MORootCertificate", certificate=pki.ca.pem)
    )
    result = await csms.call(
        "CS1",
        call.GetVariables(
            get_variable_data=[
                {"component": {"name": "SecurityCtrlr"}, "variable": {"name": name}}
                for name in ("SecurityProfile", "CertificateEntries", "MaxCertificateChainSize")
            ]
        ),
    )
    assert [r["attribute_value"] for r in result.get_variable_result] == ["0", "1", "10000"]


async def test_reset_reports_reset_or_reboot(twin: ChargePointTwin, csms: ScriptedCsms201) -> None:
    assert (await csms.call("CS1", call.Reset(type="Immediate"))).status == "Accepted"
    await csms.wait_for("BootNotification", count=2)
    event = await csms.wait_for("SecurityEventNotification")
    assert event.payload["type"] == "ResetOrReboot"
    no_invalid_frames(csms)


# -- security profile 3 ----------------------------------------------------------------------


def mtls_context(pki: Pki, directory: Path) -> ssl.SSLContext:
    server = pki.server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(
        Pki.write(directory, "server.pem", server.pem),
        Pki.write(directory, "server.key", server.key_pem),
    )
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=pki.ca.pem)
    return context


async def test_profile_3_renews_its_certificate_and_reconnects(
    tmp_path: Path, events: EventLog
) -> None:
    pki = Pki()
    csms = await ScriptedCsms201(ssl_context=mtls_context(pki, tmp_path)).start()
    first = pki.client("CS1")
    twin = ChargePointTwin(
        make_config(
            csms.url,
            ca_file=Pki.write(tmp_path, "ca.pem", pki.ca.pem),
            client_certificate=first.pem,
            client_key=first.key_pem,
        ),
        SystemClock(speed=600),
        events,
    )
    try:
        await twin.start()
        await twin.connected(timeout=10)
        await csms.call(
            "CS1", call.TriggerMessage(requested_message="SignChargingStationCertificate")
        )
        request = await csms.wait_for("SignCertificate")
        signed = pki.sign_csr(request.payload["csr"])
        result = await csms.call("CS1", call.CertificateSigned(certificate_chain=signed))
        assert result.status == "Accepted"
        await eventually(lambda: csms.connection_count == 2, timeout=10)
        await twin.connected(timeout=10)
        presented = x509.load_der_x509_certificate(csms.peer_certificates[-1] or b"")
        assert (
            presented.serial_number == x509.load_pem_x509_certificate(signed.encode()).serial_number
        )
        no_invalid_frames(csms)
    finally:
        await twin.close()
        await csms.stop()


async def test_profile_3_refuses_a_certificate_of_another_ca(
    tmp_path: Path, events: EventLog
) -> None:
    pki, other = Pki(), Pki("Other CA")
    csms = await ScriptedCsms201(ssl_context=mtls_context(pki, tmp_path)).start()
    stranger = other.client("CS1")
    twin = ChargePointTwin(
        make_config(
            csms.url,
            ca_file=Pki.write(tmp_path, "ca.pem", pki.ca.pem),
            client_certificate=stranger.pem,
            client_key=stranger.key_pem,
        ),
        SystemClock(speed=600),
        events,
    )
    try:
        await twin.start()
        with pytest.raises(NotConnected, match="client certificate"):
            await twin.connected(timeout=3)
        assert csms.connection_count == 0
        assert twin._loop_task is not None and not twin._loop_task.done()
    finally:
        await twin.close()
        await csms.stop()

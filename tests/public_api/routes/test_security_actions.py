"""Security profile 3 and certificate requests as a user drives them: a charge point given a
client certificate through the API connects to the bundled CSMS over mutual TLS, renews
its certificate with the CSMS's CA, and sends the 2.0.1 certificate requests."""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509
from sqlalchemy import Engine

from shared.csms.certificates import CertificateAuthority
from shared.settings import Settings
from tests.pki import Pki
from tests.stack import Stack, eventually, running_stack


async def test_profile_3_connect_and_renew_through_the_api(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    pki = Pki()
    server = pki.server()
    ca_file = Pki.write(tmp_path, "ca.pem", pki.ca.pem)
    tls = (
        Pki.write(tmp_path, "server.pem", server.pem),
        Pki.write(tmp_path, "server.key", server.key_pem),
    )
    operator = pki.client("operator")
    api_verify = ssl.create_default_context(cafile=ca_file)
    api_verify.load_cert_chain(
        Pki.write(tmp_path, "operator.pem", operator.pem),
        Pki.write(tmp_path, "operator.key", operator.key_pem),
    )
    async with running_stack(
        settings,
        engine,
        tls,
        ca_file=ca_file,
        client_ca=ca_file,
        api_verify=api_verify,
        certificate_authority=CertificateAuthority(pki.ca.pem, pki.ca.key_pem),
    ) as stack:
        headers = await stack.account()

        # Without a client certificate the CSMS refuses the charge point, and the answer
        # says what is missing.
        anonymous = await stack.charge_point(headers)
        refused = await stack.action(
            "connect-charger", headers, charge_point_id=anonymous["id"], timeout=60
        )
        assert refused.status_code == 502, refused.text
        assert "client certificate" in refused.json()["detail"]
        await stack.action("disconnect-charger", headers, charge_point_id=anonymous["id"])

        client = pki.client("CP-MTLS")
        charge_point = await stack.charge_point(
            headers, cid="CP-MTLS", client_certificate=client.pem, client_key=client.key_pem
        )
        connected = await stack.action(
            "connect-charger", headers, charge_point_id=charge_point["id"], timeout=60
        )
        assert connected.status_code == 200, connected.text

        answer = await stack.action(
            "certificate-request",
            headers,
            charge_point_id=charge_point["id"],
            request="SignCertificate",
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"status": "Accepted", "ocsp_result": None, "exi_response": None}
        record = stack.csms_v16.state.charge_points["CP-MTLS"]
        await eventually(
            lambda: stack.csms_v16.api.get("/api/charge-points/CP-MTLS"),
            lambda _: record.notifications.get("CertificateSigned") == {"status": "Accepted"},
            timeout=30,
        )
        signed = x509.load_pem_x509_certificate(_leaf_of(stack, "CP-MTLS").encode())
        assert signed.issuer == pki.ca.certificate.subject
        # The charge point comes back on the new certificate and stays connected.
        read = await eventually(
            lambda: stack.public.get(f"/twin/charge-point/{charge_point['id']}", headers=headers),
            lambda answer: answer.json()["connected"],
            timeout=30,
        )
        assert read.json()["client_certificate"] == client.pem


def _leaf_of(stack: Stack, cid: str) -> str:
    """The certificate the CSMS sent in its CertificateSigned, from its message log."""
    record = stack.csms_v16.state.charge_points[cid]
    for frame in record.messages.page(0, len(record.messages)):
        if frame.action == "CertificateSigned" and frame.message_type == "CALL":
            return str(frame.payload["certificateChain"])  # type: ignore[index]
    raise AssertionError("no CertificateSigned in the CSMS's log")


async def test_v201_certificate_requests_through_the_api(stack: Stack) -> None:
    headers = await stack.account()
    charge_point = await stack.charge_point(headers, protocol="ocpp2.0.1")
    connected = await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
    assert connected.status_code == 200, connected.text

    ev = await stack.action(
        "certificate-request",
        headers,
        charge_point_id=charge_point["id"],
        request="Get15118EVCertificate",
        iso15118_schema_version="urn:iso:15118:2:2013:MsgDef",
        action="Install",
        exi_request="cmVxdWVzdA==",
    )
    assert ev.status_code == 200, ev.text
    assert ev.json()["status"] == "Accepted" and ev.json()["exi_response"]

    # No V2G certificate yet: nothing to ask the OCSP status of.
    status = await stack.action(
        "certificate-request",
        headers,
        charge_point_id=charge_point["id"],
        request="GetCertificateStatus",
        certificate_type="V2GCertificate",
    )
    assert status.status_code == 409, status.text
    assert "no V2GCertificate" in status.json()["detail"]

    # The bundled CSMS has no CA configured here: it rejects the signing request.
    sign = await stack.action(
        "certificate-request",
        headers,
        charge_point_id=charge_point["id"],
        request="SignCertificate",
        certificate_type="V2GCertificate",
    )
    assert sign.status_code == 200, sign.text
    assert sign.json()["status"] == "Rejected"

    incomplete = await stack.action(
        "certificate-request",
        headers,
        charge_point_id=charge_point["id"],
        request="Get15118EVCertificate",
    )
    assert incomplete.status_code == 422

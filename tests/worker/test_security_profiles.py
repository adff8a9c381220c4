"""OCPP security profiles 1 (basic auth), 2 (TLS with the server's certificate checked) and
3 (mutual TLS, the client certificate given through the API or signed by the CSMS)."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import Engine

from shared.csms.certificates import CertificateAuthority
from shared.settings import Settings
from tests.pki import Pki
from tests.stack import Stack, eventually, running_stack


async def test_profile_1_sends_the_password_as_basic_auth(stack: Stack) -> None:
    headers = await stack.account()
    charge_point = await stack.charge_point(headers, password="s3cret-pass")
    await stack.csms_v16.api.put(
        "/api/settings", json={"charge_point_passwords": {charge_point["cid"]: "s3cret-pass"}}
    )
    connected = await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
    assert connected.status_code == 200, connected.text
    seen = await stack.csms_v16.api.get(f"/api/charge-points/{charge_point['cid']}")
    assert seen.json()["basic_auth_user"] == charge_point["cid"]

    wrong = await stack.charge_point(headers, password="not-the-password")
    await stack.csms_v16.api.put(
        "/api/settings", json={"charge_point_passwords": {wrong["cid"]: "the-real-one"}}
    )
    refused = await stack.action("connect-charger", headers, charge_point_id=wrong["id"], timeout=2)
    assert refused.status_code == 502  # a CSMS that refuses the charge point: at once
    assert "401" in refused.json()["detail"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for localhost, which the twins take as their CA."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "csms.pem", folder / "csms.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.fixture
async def tls_stack(
    settings: Settings, engine: Engine, certificate: tuple[str, str]
) -> AsyncIterator[Stack]:
    async with running_stack(settings, engine, tls=certificate) as running:
        yield running


async def test_profile_2_connects_over_wss_checking_the_certificate(tls_stack: Stack) -> None:
    headers = await tls_stack.account()
    assert tls_stack.csms_v16.ws_url.startswith("wss://")
    charge_point = await tls_stack.charge_point(headers, password="s3cret-pass")
    connected = await tls_stack.action(
        "connect-charger", headers, charge_point_id=charge_point["id"]
    )
    assert connected.status_code == 200, connected.text
    assert connected.json()["connected"] is True


async def test_a_certificate_the_ca_did_not_sign_is_refused(
    stack: Stack, certificate: tuple[str, str], tmp_path: Path
) -> None:
    """The plain stack trusts only the system CAs, so a self-signed CSMS is refused."""
    from csms_v16.app import create_app
    from tests.csms.server import serve

    headers = await stack.account()
    async with serve(create_app(), tls=certificate) as untrusted:
        charge_point = await stack.charge_point(headers, csms_url=untrusted.ws_url)
        refused = await stack.action(
            "connect-charger", headers, charge_point_id=charge_point["id"], timeout=2
        )
    assert refused.status_code == 502  # a certificate it cannot trust: at once
    assert "certificate" in refused.json()["detail"].lower()


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

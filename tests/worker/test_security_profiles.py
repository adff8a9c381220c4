"""OCPP security profiles 1 (basic auth) and 2 (TLS with the server's certificate checked)."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from shared.settings import Settings
from tests.stack import Stack, running_stack


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

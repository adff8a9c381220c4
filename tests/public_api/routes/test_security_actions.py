"""Certificate requests as a user sends them through the API (profile 3 itself:
tests/worker/test_security_profiles.py)."""

from __future__ import annotations

from tests.stack import Stack


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

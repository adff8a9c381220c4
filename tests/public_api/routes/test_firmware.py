"""A user makes a charge point's firmware updates fail, and the CSMS sees it."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.stack import Stack, eventually


async def test_set_firmware_failure_makes_the_install_fail(stack: Stack) -> None:
    headers = await stack.account()
    charge_point = await stack.charge_point(headers)
    await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
    wrong = await stack.action(
        "set-firmware-failure", headers, charge_point_id=charge_point["id"], firmware_failure="x"
    )
    assert wrong.status_code == 422
    answer = await stack.action(
        "set-firmware-failure",
        headers,
        charge_point_id=charge_point["id"],
        firmware_failure="install",
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"firmware_failure": "install"}
    cid = charge_point["cid"]
    sent = await stack.csms_v16.api.post(
        f"/api/charge-points/{cid}/calls/UpdateFirmware",
        json={
            "location": "https://example.com/fw.bin",
            "retrieveDate": datetime.now(UTC).isoformat(),
        },
    )
    assert sent.status_code == 200, sent.text

    async def firmware_status() -> str | None:
        record = (await stack.csms_v16.api.get(f"/api/charge-points/{cid}")).json()
        return record["notifications"].get("FirmwareStatusNotification", {}).get("status")

    assert await eventually(firmware_status, lambda s: s == "InstallationFailed") == (
        "InstallationFailed"
    )
    stranger = await stack.account()
    hidden = await stack.action(
        "set-firmware-failure",
        stranger,
        charge_point_id=charge_point["id"],
        firmware_failure="none",
    )
    assert hidden.status_code == 404

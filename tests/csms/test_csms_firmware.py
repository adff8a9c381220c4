"""Firmware updates and log uploads driven through the bundled CSMSs' HTTP API, with a
real twin connected, the files uploaded to the CSMS's own `/api/uploads/`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from csms_v16.app import create_app as create_v16
from csms_v201.app import create_app as create_v201
from tests.csms.server import RunningCsms, eventually, serve
from tests.twin.scripted_csms import EventLog, make_config
from tests.twin.scripted_csms201 import make_config as make_config201
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import SystemClock
from worker.twin.smart_charging import format_time


@pytest.fixture
async def csms16() -> AsyncIterator[RunningCsms]:
    async with serve(create_v16()) as running:
        yield running


@pytest.fixture
async def csms201() -> AsyncIterator[RunningCsms]:
    async with serve(create_v201()) as running:
        yield running


async def connected_twin(config: Any) -> ChargePointTwin:
    twin = ChargePointTwin(config, SystemClock(speed=600), EventLog())
    await twin.start()
    await twin.connected(timeout=10)
    return twin


def notification(csms: RunningCsms, cid: str, action: str) -> dict[str, Any]:
    return csms.state.charge_points[cid].notifications.get(action) or {}


async def test_get_diagnostics_uploads_to_the_csms(csms16: RunningCsms) -> None:
    twin = await connected_twin(make_config(csms16.ws_url))
    try:
        location = f"{csms16.api.base_url}/api/uploads/"
        response = await csms16.api.post(
            "/api/charge-points/CP1/calls/GetDiagnostics", json={"location": location}
        )
        assert response.status_code == 200, response.text
        file_name = response.json()["response"]["fileName"]
        await eventually(
            lambda: (
                notification(csms16, "CP1", "DiagnosticsStatusNotification")
                == {"status": "Uploaded"}
            ),
            timeout=15,
        )
        listed = (await csms16.api.get("/api/uploads")).json()
        assert [f["name"] for f in listed["data"]] == [file_name]
        content = await csms16.api.get(f"/api/uploads/{file_name}")
        assert content.status_code == 200
        assert "connector 1: Available" in content.text
        assert (await csms16.api.get("/api/uploads/nothing-here.txt")).status_code == 404
    finally:
        await twin.close()


async def test_update_firmware_through_the_api(csms16: RunningCsms) -> None:
    clock = SystemClock(speed=600)
    twin = await connected_twin(make_config(csms16.ws_url))
    try:
        response = await csms16.api.post(
            "/api/charge-points/CP1/calls/UpdateFirmware",
            json={
                "location": "https://example.com/fw.bin",
                "retrieveDate": format_time(clock.now()),
            },
        )
        assert response.status_code == 200, response.text
        await eventually(
            lambda: (
                notification(csms16, "CP1", "FirmwareStatusNotification") == {"status": "Installed"}
            ),
            timeout=15,
        )
        await eventually(lambda: csms16.state.charge_points["CP1"].connections == 2, timeout=15)
        garbage = await csms16.api.post(
            "/api/charge-points/CP1/calls/UpdateFirmware", json={"location": "x"}
        )
        assert garbage.status_code == 422  # the CSMS checks the schema before sending
    finally:
        await twin.close()


async def test_2_0_1_update_firmware_and_get_log(csms201: RunningCsms) -> None:
    clock = SystemClock(speed=600)
    twin = await connected_twin(make_config201(csms201.ws_url))
    try:
        response = await csms201.api.post(
            "/api/charge-points/CS1/calls/UpdateFirmware",
            json={
                "requestId": 4,
                "firmware": {
                    "location": "https://example.com/fw.bin",
                    "retrieveDateTime": format_time(clock.now()),
                },
            },
        )
        assert response.json()["response"] == {"status": "Accepted"}
        await eventually(
            lambda: (
                notification(csms201, "CS1", "FirmwareStatusNotification")
                == {"status": "Installed", "requestId": 4}
            ),
            timeout=15,
        )
        boot = csms201.state.charge_points["CS1"].boot_notification
        assert boot is not None and boot["reason"] == "FirmwareUpdate"
        await eventually(lambda: twin.online, timeout=10)
        response = await csms201.api.post(
            "/api/charge-points/CS1/calls/GetLog",
            json={
                "logType": "DiagnosticsLog",
                "requestId": 5,
                "log": {"remoteLocation": f"{csms201.api.base_url}/api/uploads/"},
            },
        )
        assert response.status_code == 200, response.text
        file_name = response.json()["response"]["filename"]
        await eventually(
            lambda: (
                notification(csms201, "CS1", "LogStatusNotification")
                == {"status": "Uploaded", "requestId": 5}
            ),
            timeout=15,
        )
        content = await csms201.api.get(f"/api/uploads/{file_name}")
        assert content.text.startswith("# DiagnosticsLog of CS1")
    finally:
        await twin.close()

"""The bundled 2.0.1 CSMS speaking OCPP 2.1 with a station that offers ``ocpp2.1``."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v21 import ChargePoint, call, call_result
from ocpp.v21.enums import Action

from csms_v201.app import create_app
from tests.csms.server import RunningCsms, connected, serve

DISCHARGE_PROFILE = {
    "id": 3,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": [
        {
            "id": 1,
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "operationMode": "CentralSetpoint", "setpoint": -7000.0}
            ],
        }
    ],
}


class Station21(ChargePoint):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.profiles: list[dict[str, Any]] = []

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, **request: Any) -> call_result.SetChargingProfile:
        self.profiles.append(request)
        return call_result.SetChargingProfile(status="Accepted")


@pytest.fixture
async def csms() -> AsyncIterator[RunningCsms]:
    async with serve(create_app()) as running:
        yield running


async def test_a_2_1_station_gets_2_1_and_its_charging_needs_are_kept(csms: RunningCsms) -> None:
    needs = {
        "requested_energy_transfer": "DC_BPT",
        "dc_charging_parameters": {"ev_max_current": 200, "ev_max_voltage": 400},
        "v2x_charging_parameters": {"max_discharge_power": 11000, "target_so_c": 80},
    }
    async with connected(Station21, csms.ws_url, "CS21", "ocpp2.1") as station:
        boot = await station.call(
            call.BootNotification(
                charging_station={"model": "Twin", "vendor_name": "ELU"}, reason="PowerUp"
            )
        )
        answer = await station.call(call.NotifyEVChargingNeeds(evse_id=1, charging_needs=needs))
        sent = await csms.api.post(
            "/api/charge-points/CS21/calls/SetChargingProfile",
            json={"evseId": 1, "chargingProfile": DISCHARGE_PROFILE},
        )
        record = (await csms.api.get("/api/charge-points/CS21")).json()

    assert boot.status == "Accepted"
    assert answer.status == "Accepted"
    assert record["subprotocol"] == "ocpp2.1"
    kept = record["notifications"]["NotifyEVChargingNeeds"]
    assert kept["chargingNeeds"]["v2xChargingParameters"]["maxDischargePower"] == 11000
    assert sent.status_code == 200, sent.text
    assert sent.json()["response"] == {"status": "Accepted"}
    period = station.profiles[0]["charging_profile"]["charging_schedule"][0]
    assert period["charging_schedule_period"][0]["setpoint"] == -7000


async def test_2_1_only_calls_are_refused_for_a_2_0_1_station(csms: RunningCsms) -> None:
    async with connected(ChargePoint, csms.ws_url, "CS201", "ocpp2.0.1"):
        setpoint = await csms.api.post(
            "/api/charge-points/CS201/calls/SetChargingProfile",
            json={"evseId": 1, "chargingProfile": DISCHARGE_PROFILE},
        )
        der = await csms.api.post("/api/charge-points/CS201/calls/GetDERControl", json={})
        record = (await csms.api.get("/api/charge-points/CS201")).json()

    assert record["subprotocol"] == "ocpp2.0.1"
    assert setpoint.status_code == 422  # operationMode / setpoint are not 2.0.1
    assert der.status_code == 400
    assert "OCPP 2.0.1" in der.json()["detail"]

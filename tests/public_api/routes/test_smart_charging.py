"""A CSMS's charging profile, set through the bundled CSMS, is what the API shows drawn."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.stack import Stack, eventually

SIX_AMPS_16 = {
    "connectorId": 0,
    "csChargingProfiles": {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6}],
        },
    },
}
SIX_AMPS_201 = {
    "evseId": 0,
    "chargingProfile": {
        "id": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6}],
            }
        ],
    },
}


@pytest.mark.parametrize(
    ("protocol", "profile"), [("ocpp1.6", SIX_AMPS_16), ("ocpp2.0.1", SIX_AMPS_201)]
)
async def test_a_6_amp_default_profile_limits_a_22_kw_point(
    stack: Stack, protocol: str, profile: dict
) -> None:
    headers = await stack.account()
    csms = stack.csms_v16 if protocol == "ocpp1.6" else stack.csms_v201
    charge_point = await stack.charge_point(headers, protocol=protocol, maximum_ac_power=22)
    await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
    answer = await csms.api.post(
        f"/api/charge-points/{charge_point['cid']}/calls/SetChargingProfile", json=profile
    )
    assert answer.json()["response"]["status"] == "Accepted"

    vehicle = await stack.vehicle(headers, battery_capacity=100, maximum_charging_rate=22)
    connector_id = charge_point["evses"][0]["connectors"][0]["id"]
    started = await stack.action(
        "start-transaction", headers, connector_id=connector_id, vehicle_id=vehicle["id"]
    )
    transaction = started.json()
    samples = await eventually(
        lambda: stack.public.get(
            f"/operations/charge_point/transaction/{transaction['id']}/meter-values",
            headers=headers,
        ),
        lambda answer: answer.json()["count"] >= 3,
    )
    powers = [sample["power_w"] for sample in samples.json()["data"][1:]]
    assert powers == pytest.approx([6 * 230 * 3] * len(powers), rel=0.001)  # 4140 W

    connector = await stack.public.get(
        f"/twin/charge-point/connector/{connector_id}", headers=headers
    )
    assert connector.json()["current_ac_power"] == pytest.approx(4.14, rel=0.001)
    assert connector.json()["current_ac_current"] == pytest.approx(6, rel=0.001)

    stopped = await stack.action("stop-transaction", headers, transaction_id=transaction["id"])
    ended = stopped.json()
    hours = (_seconds(ended["end_time"]) - _seconds(ended["start_time"])) / 3600
    assert ended["energy"] == pytest.approx(4.14 * hours, rel=0.01)


def _seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


async def test_a_single_phase_point_turns_6_amps_into_1_38_kw(stack: Stack) -> None:
    headers = await stack.account()
    charge_point = await stack.charge_point(headers, phases=1, maximum_ac_power=7.4)
    assert charge_point["phases"] == 1
    await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
    await stack.csms_v16.api.post(
        f"/api/charge-points/{charge_point['cid']}/calls/SetChargingProfile", json=SIX_AMPS_16
    )
    vehicle = await stack.vehicle(headers, battery_capacity=100)
    connector_id = charge_point["evses"][0]["connectors"][0]["id"]
    await stack.action(
        "start-transaction", headers, connector_id=connector_id, vehicle_id=vehicle["id"]
    )
    connector = await eventually(
        lambda: stack.public.get(f"/twin/charge-point/connector/{connector_id}", headers=headers),
        lambda answer: answer.json()["current_ac_power"] > 0,
    )
    assert connector.json()["current_ac_power"] == pytest.approx(1.38, rel=0.001)
    assert connector.json()["current_ac_current"] == pytest.approx(6, rel=0.001)

"""The same actions for OCPP 2.0.1 charge points, against the bundled 2.0.1 CSMS."""

from __future__ import annotations

import pytest

from tests.stack import Stack, eventually


async def _connected(stack: Stack, headers: dict[str, str], protocol: str = "ocpp2.0.1"):  # type: ignore[no-untyped-def]
    charge_point = await stack.charge_point(headers, protocol=protocol)
    answer = await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
    assert answer.status_code == 200, answer.text
    return answer.json()


def _connector_id(charge_point: dict) -> str:  # type: ignore[type-arg]
    return charge_point["evses"][0]["connectors"][0]["id"]


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp2.1"])
async def test_steps_4_to_6_over_ocpp_201(stack: Stack, protocol: str) -> None:
    """Also for 2.1: the bundled 2.0.1 CSMS speaks 2.1 to a twin offering ocpp2.1."""
    headers = await stack.account()
    vehicle = await stack.vehicle(headers, soc=30)
    charge_point = await _connected(stack, headers, protocol)
    assert charge_point["status"] == "Available"
    seen = await stack.csms_v201.api.get(f"/api/charge-points/{charge_point['cid']}")
    assert seen.json()["boot_status"] == "Accepted"
    assert seen.json()["subprotocol"] == protocol

    started = await stack.action(
        "start-transaction", headers, connector_id=_connector_id(charge_point),
        vehicle_id=vehicle["id"],
    )  # fmt: skip
    assert started.status_code == 200, started.text
    transaction = started.json()
    assert transaction["status"] == "Charging"
    assert transaction["transactionid"]

    await eventually(
        lambda: stack.public.get(
            f"/operations/charge_point/transaction/{transaction['id']}", headers=headers
        ),
        lambda answer: answer.json()["energy"] > 0.5,
    )
    stopped = await stack.action("stop-transaction", headers, transaction_id=transaction["id"])
    assert stopped.status_code == 200, stopped.text
    ended = stopped.json()
    assert ended["status"] == "Ended"

    recorded = await eventually(
        lambda: stack.csms_v201.api.get(
            f"/api/transactions/{transaction['transactionid']}",
            params={"charge_point_id": charge_point["cid"]},
        ),
        lambda answer: answer.status_code == 200 and answer.json()["status"] == "ended",
    )
    events = recorded.json()["events"]
    assert [event["seq_no"] for event in events] == list(range(len(events)))
    assert events[0]["event_type"] == "Started"
    assert events[-1]["event_type"] == "Ended"
    assert recorded.json()["meter_stop"] == pytest.approx(ended["meter_stop"], abs=1)

    log = await stack.public.get(
        f"/twin/charge-point/{charge_point['id']}/message-log",
        headers=headers,
        params={"action": "TransactionEvent", "limit": 1000},
    )
    assert log.json()["count"] >= 4  # Started, Updated..., Ended and their answers


async def test_plug_in_then_request_start_from_the_csms(stack: Stack) -> None:
    headers = await stack.account()
    vehicle = await stack.vehicle(headers)
    charge_point = await _connected(stack, headers)
    plugged = await stack.action(
        "plug-in", headers, connector_id=_connector_id(charge_point), vehicle_id=vehicle["id"]
    )
    assert plugged.status_code == 200, plugged.text
    id_token = {"idToken": vehicle["id_tag"], "type": "Central"}
    remote = await stack.csms_v201.api.post(
        f"/api/charge-points/{charge_point['cid']}/calls/RequestStartTransaction",
        json={"evseId": 1, "remoteStartId": 7, "idToken": id_token},
    )
    assert remote.json()["response"]["status"] == "Accepted"
    charging = await eventually(
        lambda: stack.public.get("/operations/charge_point/transaction/", headers=headers),
        lambda answer: (
            answer.json()["count"] == 1 and answer.json()["data"][0]["status"] == "Charging"
        ),
    )
    assert charging.json()["data"][0]["vehicle_id"] == vehicle["id"]


async def test_a_16_and_a_201_twin_charge_side_by_side(stack: Stack) -> None:
    headers = await stack.account()
    transactions, charge_points = [], []
    for protocol in ("ocpp1.6", "ocpp2.0.1"):
        charge_point = await _connected(stack, headers, protocol)
        charge_points.append(charge_point["id"])
        vehicle = await stack.vehicle(headers)
        started = await stack.action(
            "start-transaction", headers, connector_id=_connector_id(charge_point),
            vehicle_id=vehicle["id"],
        )  # fmt: skip
        assert started.status_code == 200, (protocol, started.text)
        transactions.append(started.json()["id"])
    hosted = await stack.hosted_twins()
    assert set(charge_points) <= hosted.keys()
    if stack.mode == "embedded":
        assert len({hosted[charge_point] for charge_point in charge_points}) == 1
    for transaction_id in transactions:
        await eventually(
            lambda transaction_id=transaction_id: stack.public.get(
                f"/operations/charge_point/transaction/{transaction_id}", headers=headers
            ),
            lambda answer: answer.json()["energy"] > 0.2,
        )


async def test_v2x_discharge_through_the_bundled_csms(stack: Stack) -> None:
    """A bidirectional vehicle on a 2.1 charge point gives energy back when the CSMS
    sends a negative setpoint through its HTTP API."""
    headers = await stack.account()
    vehicle = await stack.vehicle(
        headers, soc=60, bidirectional=True, maximum_discharge_power=7, minimum_soc=40
    )
    assert (vehicle["bidirectional"], vehicle["maximum_discharge_power"]) == (True, 7)
    charge_point = await _connected(stack, headers, "ocpp2.1")
    connector_id = _connector_id(charge_point)
    started = await stack.action(
        "start-transaction", headers, connector_id=connector_id, vehicle_id=vehicle["id"]
    )
    assert started.status_code == 200, started.text
    transaction = started.json()
    seen = await eventually(
        lambda: stack.csms_v201.api.get(f"/api/charge-points/{charge_point['cid']}"),
        lambda answer: "NotifyEVChargingNeeds" in answer.json()["notifications"],
    )
    needs = seen.json()["notifications"]["NotifyEVChargingNeeds"]["chargingNeeds"]
    assert needs["requestedEnergyTransfer"] == "AC_BPT"
    assert needs["v2xChargingParameters"]["maxDischargePower"] == 7000
    profile = {
        "id": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "transactionId": transaction["transactionid"],
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "operationMode": "CentralSetpoint", "setpoint": -11000}
                ],
            }
        ],
    }
    sent = await stack.csms_v201.api.post(
        f"/api/charge-points/{charge_point['cid']}/calls/SetChargingProfile",
        json={"evseId": 1, "chargingProfile": profile},
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["response"]["status"] == "Accepted"

    connector = await eventually(
        lambda: stack.public.get(f"/twin/charge-point/connector/{connector_id}", headers=headers),
        lambda answer: answer.json()["current_ac_power"] < 0,
    )
    assert connector.json()["current_ac_power"] == pytest.approx(-7.0)  # the vehicle's maximum
    car = await eventually(
        lambda: stack.public.get(f"/twin/vehicle/{vehicle['id']}", headers=headers),
        lambda answer: answer.json()["soc"] < 59,
    )
    assert car.json()["status"] == "discharging"

    def exported(answer: object) -> float:
        values = answer.json()["meter_values"]  # type: ignore[attr-defined]
        return max(
            (
                float(sampled["value"])
                for value in values
                for sampled in value["sampled_value"]
                if sampled.get("measurand") == "Energy.Active.Export.Register"
            ),
            default=0.0,
        )

    await eventually(
        lambda: stack.csms_v201.api.get(
            f"/api/transactions/{transaction['transactionid']}",
            params={"charge_point_id": charge_point["cid"]},
        ),
        lambda answer: exported(answer) > 100,
    )
    stopped = await stack.action("stop-transaction", headers, transaction_id=transaction["id"])
    assert stopped.status_code == 200, stopped.text

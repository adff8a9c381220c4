"""What the API shows is what the twin did and what its CSMS saw (issue 12, "Wrong today")."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.stack import Stack, eventually

#: Two EVSEs, the second with two connectors.
EVSES = [
    {"connectors": [{"connector_type": "cType2"}]},
    {"connectors": [{"connector_type": "cType2"}, {"connector_type": "cCCS2"}]},
]


def _statuses(charge_point: dict[str, Any]) -> list[str]:
    """The status of every EVSE and connector, as the API shows them."""
    return [
        status
        for evse in charge_point["evses"]
        for status in [evse["status"], *(c["status"] for c in evse["connectors"])]
    ]


async def _read(stack: Stack, headers: dict[str, str], charge_point_id: str) -> dict[str, Any]:
    answer = await stack.public.get(f"/twin/charge-point/{charge_point_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _charging(
    stack: Stack, headers: dict[str, str], vehicle: dict[str, Any], protocol: str
) -> tuple[dict[str, Any], str, Any]:
    """A connected charge point charging the vehicle: (charge point, connector id, the
    start-transaction answer)."""
    charge_point = await stack.charge_point(headers, protocol=protocol)
    connected = await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
    assert connected.status_code == 200, connected.text
    connector_id = charge_point["evses"][0]["connectors"][0]["id"]
    started = await stack.action(
        "start-transaction", headers, connector_id=connector_id, vehicle_id=vehicle["id"]
    )
    assert started.status_code == 200, started.text
    return charge_point, connector_id, started


async def _csms_statuses(stack: Stack, protocol: str, cid: str) -> dict[tuple[int, int], str]:
    """(evse id, connector id) -> status the CSMS last heard, connector 0 left out."""
    csms = stack.csms_v16 if protocol == "ocpp1.6" else stack.csms_v201
    seen = (await csms.api.get(f"/api/charge-points/{cid}")).json()
    return {
        (c["evse_id"] or 0, c["connector_id"]): c["status"]
        for c in seen["connectors"]
        if c["connector_id"] != 0
    }


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_connected_evses_and_connectors_are_available(stack: Stack, protocol: str) -> None:
    headers = await stack.account()
    charge_point = await stack.charge_point(headers, protocol=protocol, evses=EVSES)
    assert set(_statuses(charge_point)) == {"Unavailable"}  # never connected yet
    connected = await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
    assert connected.status_code == 200, connected.text
    assert _statuses(connected.json()) == ["Available"] * 5
    assert _statuses(await _read(stack, headers, charge_point["id"])) == ["Available"] * 5
    csms_seen = await _csms_statuses(stack, protocol, charge_point["cid"])
    assert len(csms_seen) == 3
    assert set(csms_seen.values()) == {"Available"}

    disconnected = await stack.action(
        "disconnect-charger", headers, charge_point_id=charge_point["id"]
    )
    assert disconnected.status_code == 200, disconnected.text
    again = await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
    assert again.status_code == 200, again.text
    assert _statuses(again.json()) == ["Available"] * 5
    assert _statuses(await _read(stack, headers, charge_point["id"])) == ["Available"] * 5


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_stopped_session_leaves_the_vehicle_plugged_in(stack: Stack, protocol: str) -> None:
    headers = await stack.account()
    vehicle = await stack.vehicle(headers, soc=20)
    charge_point, connector_id, started = await _charging(stack, headers, vehicle, protocol)

    async def read_vehicle() -> dict[str, Any]:
        answer = await stack.public.get(f"/twin/vehicle/{vehicle['id']}", headers=headers)
        return answer.json()

    await eventually(read_vehicle, lambda car: car["status"] == "charging")
    stopped = await stack.action("stop-transaction", headers, transaction_id=started.json()["id"])
    assert stopped.status_code == 200, stopped.text

    car = await read_vehicle()
    assert car["status"] == "plugged-in"
    assert car["transaction_id"] is None
    assert car["connector_id"] == connector_id
    connector = (
        await stack.public.get(f"/twin/charge-point/connector/{connector_id}", headers=headers)
    ).json()
    assert connector["status"] == "Finishing"
    assert connector["vehicle_id"] == vehicle["id"]
    assert connector["transaction_id"] is None
    # 2.0.1 has no Finishing: the connector stays Occupied while the cable is in.
    finishing = "Finishing" if protocol == "ocpp1.6" else "Occupied"
    await eventually(
        lambda: _csms_statuses(stack, protocol, charge_point["cid"]),
        lambda seen: list(seen.values()) == [finishing],
    )

    unplugged = await stack.action("unplug", headers, connector_id=connector_id)
    assert unplugged.status_code == 200, unplugged.text
    car = await read_vehicle()
    assert car["status"] == "ready-to-charge"
    assert car["connector_id"] is None
    connector = (
        await stack.public.get(f"/twin/charge-point/connector/{connector_id}", headers=headers)
    ).json()
    assert connector["status"] == "Available"
    assert connector["vehicle_id"] is None


async def _csms_calls(stack: Stack, protocol: str, cid: str) -> list[tuple[str, Any]]:
    """(action, status or event type) of each StatusNotification of connector 1 and each
    start message the CSMS received, in order."""
    csms = stack.csms_v16 if protocol == "ocpp1.6" else stack.csms_v201
    log = await csms.api.get(f"/api/charge-points/{cid}/messages", params={"limit": 1000})
    calls = []
    for m in log.json()["data"]:
        if m["direction"] != "received" or m["message_type"] != "CALL":
            continue
        payload = m["payload"]
        if m["action"] == "StatusNotification" and payload.get("connectorId") == 1:
            calls.append((m["action"], payload.get("status") or payload.get("connectorStatus")))
        elif m["action"] == "StartTransaction":
            calls.append((m["action"], None))
        elif m["action"] == "TransactionEvent" and payload["eventType"] == "Started":
            calls.append((m["action"], payload["transactionInfo"].get("chargingState")))
    return calls


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_the_csms_hears_the_start_before_charging(stack: Stack, protocol: str) -> None:
    headers = await stack.account()
    vehicle = await stack.vehicle(headers)
    charge_point, connector_id, _ = await _charging(stack, headers, vehicle, protocol)
    connector = (
        await stack.public.get(f"/twin/charge-point/connector/{connector_id}", headers=headers)
    ).json()
    assert connector["status"] == "Charging"  # the CSMS accepted the start

    if protocol == "ocpp1.6":
        expected = [
            ("StatusNotification", "Available"),
            ("StatusNotification", "Preparing"),
            ("StartTransaction", None),
            ("StatusNotification", "Charging"),
        ]
    else:  # Occupied, then Started carrying the charging state; no status comes between
        expected = [
            ("StatusNotification", "Available"),
            ("StatusNotification", "Occupied"),
            ("TransactionEvent", "Charging"),
        ]
    calls = await eventually(
        lambda: _csms_calls(stack, protocol, charge_point["cid"]),
        lambda calls: len(calls) >= len(expected),
    )
    assert calls == expected


@pytest.mark.parametrize(
    ("protocol", "interval"),
    [("ocpp1.6", "MeterValueSampleInterval"), ("ocpp2.0.1", "SampledDataCtrlr/TxUpdatedInterval")],
)
async def test_reads_of_a_charging_session_are_live_between_meter_samples(
    stack: Stack, protocol: str, interval: str
) -> None:
    """Meter samples every 10 simulated minutes (a minute of real time at speed 10): reads
    in between show the energy and SoC of the moment, not of the last sample."""
    headers = await stack.account()
    vehicle = await stack.vehicle(headers, battery_capacity=60, soc=20)
    charge_point = await stack.charge_point(
        headers,
        protocol=protocol,
        speed_factor=10,
        maximum_ac_power=22,
        ocpp_configuration={interval: "600"},
    )
    connected = await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
    assert connected.status_code == 200, connected.text
    connector_id = charge_point["evses"][0]["connectors"][0]["id"]
    asked = time.monotonic()
    started = await stack.action(
        "start-transaction", headers, connector_id=connector_id, vehicle_id=vehicle["id"]
    )
    assert started.status_code == 200, started.text
    answered = time.monotonic()
    await asyncio.sleep(2)

    before_reads = time.monotonic()
    connector = (
        await stack.public.get(f"/twin/charge-point/connector/{connector_id}", headers=headers)
    ).json()
    transaction = (
        await stack.public.get(
            f"/operations/charge_point/transaction/{started.json()['id']}", headers=headers
        )
    ).json()
    car = (await stack.public.get(f"/twin/vehicle/{vehicle['id']}", headers=headers)).json()
    whole = await _read(stack, headers, charge_point["id"])
    after_reads = time.monotonic()

    least = 22 * (before_reads - answered) * 10 / 3600  # kWh at 22 kW, 10 simulated s a second
    most = 22 * (after_reads - asked) * 10 / 3600
    in_whole = whole["evses"][0]["connectors"][0]
    for energy in (connector["current_energy"], transaction["energy"], in_whole["current_energy"]):
        assert least * 0.99 <= energy <= most * 1.01, (least, energy, most)
    assert car["soc"] == pytest.approx(20 + connector["current_energy"] / 60 * 100, abs=0.05)
    assert connector["soc"] == pytest.approx(car["soc"], abs=0.05)
    assert in_whole["soc"] == pytest.approx(car["soc"], abs=0.2)
    assert in_whole["total_energy"] >= in_whole["current_energy"]

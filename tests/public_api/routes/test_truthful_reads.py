"""What the API shows is what the twin did and what its CSMS saw (issue 12, "Wrong today")."""

from __future__ import annotations

from typing import Any

import pytest

from tests.stack import Stack

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

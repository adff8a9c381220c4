"""One user's twins together send a bounded number of periodic messages a real second
(ELU_MAX_USER_MESSAGES_PER_SECOND, 2,000 by default): a create, change or connect that
could go beyond it is refused, saying why."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.builders import charge_point_body, create_account, create_charge_point
from tests.stack import Stack


def _evses(evses: int, connectors: int) -> list[dict[str, Any]]:
    return [{"connectors": [{"connector_type": "cType2"}] * connectors}] * evses


def test_a_charge_point_that_alone_could_send_too_much_is_a_422(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    # 256 connectors at speed 600: 10 MeterValues a second each, and a Heartbeat: 2,561.
    body = charge_point_body(speed_factor=600, evses=_evses(32, 8))
    for answer in (
        public_client.post("/twin/charge-point/", headers=account.headers, json=body),
        public_client.post("/twin/charge-point/bulk", headers=account.headers, json=[body]),
    ):
        assert answer.status_code == 422, answer.text
        said = answer.json()["detail"]
        assert "speed_factor 600 with 256 connectors may send up to 2,561" in said
        assert "at most 2,000 together (ELU_MAX_USER_MESSAGES_PER_SECOND)" in said
    listed = public_client.get("/twin/charge-point/", headers=account.headers).json()
    assert listed["count"] == 0

    # The same charge point at speed 1 sends at most 257 a second: it is taken, and may not
    # be sped up beyond the bound later.
    slow = create_charge_point(public_client, account, speed_factor=1, evses=_evses(32, 8))
    patched = public_client.patch(
        f"/twin/charge-point/{slow['id']}", headers=account.headers, json={"speed_factor": 60}
    )
    assert patched.status_code == 422, patched.text
    assert "speed_factor 60 with 256 connectors" in patched.json()["detail"]
    read = public_client.get(f"/twin/charge-point/{slow['id']}", headers=account.headers)
    assert read.json()["speed_factor"] == 1


async def test_a_connect_beyond_the_users_bound_is_a_409_saying_why(stack: Stack) -> None:
    headers = await stack.account()
    # 100 connectors at speed 600 each: up to 1,001 messages a second; two are 2,002.
    first = await stack.charge_point(headers, evses=_evses(20, 5))
    second = await stack.charge_point(headers, evses=_evses(20, 5))
    connected = await stack.action("connect-charger", headers, charge_point_id=first["id"])
    assert connected.status_code == 200, connected.text

    refused = await stack.action("connect-charger", headers, charge_point_id=second["id"])

    assert refused.status_code == 409, refused.text
    error = refused.json()
    assert error["code"] == "message_rate"
    assert "may send up to 1,001 periodic messages a real second" in error["detail"]
    assert "ELU_MAX_USER_MESSAGES_PER_SECOND" in error["detail"]
    read = await stack.public.get(f"/twin/charge-point/{second['id']}", headers=headers)
    assert read.json()["connected"] is False
    # Another user is not held back by this one's twins.
    other = await stack.account()
    theirs = await stack.charge_point(other, evses=_evses(20, 5))
    assert (
        await stack.action("connect-charger", other, charge_point_id=theirs["id"])
    ).status_code == 200
    await stack.action("disconnect-charger", other, charge_point_id=theirs["id"])
    # Once the first is disconnected, the second may connect.
    await stack.action("disconnect-charger", headers, charge_point_id=first["id"])
    connected = await stack.action("connect-charger", headers, charge_point_id=second["id"])
    assert connected.status_code == 200, connected.text
    await stack.action("disconnect-charger", headers, charge_point_id=second["id"])

"""Two users; each endpoint that takes an id is tried by the one who does not own it.

A stranger must get 404 (never 403: that would tell them the id exists), and
nothing may change.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.builders import Account, create_account, create_charge_point, create_vehicle

# (method, path template, json body)
ENDPOINTS = [
    ("GET", "/twin/vehicle/{vehicle}", None),
    ("PATCH", "/twin/vehicle/{vehicle}", {"name": "stolen"}),
    ("DELETE", "/twin/vehicle/{vehicle}", None),
    ("GET", "/twin/charge-point/{charge_point}", None),
    ("PATCH", "/twin/charge-point/{charge_point}", {"name": "stolen"}),
    ("DELETE", "/twin/charge-point/{charge_point}", None),
    ("GET", "/twin/charge-point/evse/{evse}", None),
    ("GET", "/twin/charge-point/connector/{connector}", None),
    ("GET", "/app-token/{app_token}", None),
    ("DELETE", "/app-token/{app_token}", None),
]


def _owned_ids(client: TestClient, owner: Account) -> dict[str, str]:
    charge_point = create_charge_point(client, owner)
    app_token = client.post(
        "/app-token", headers=owner.headers, json={"name": "mine", "expiry_in_days": 1}
    ).json()
    return {
        "vehicle": create_vehicle(client, owner)["id"],
        "charge_point": charge_point["id"],
        "evse": charge_point["evses"][0]["id"],
        "connector": charge_point["evses"][0]["connectors"][0]["id"],
        "app_token": app_token["id"],
    }


@pytest.mark.parametrize(("method", "template", "body"), ENDPOINTS)
def test_a_stranger_gets_404_and_changes_nothing(
    public_client: TestClient,
    private_client: TestClient,
    method: str,
    template: str,
    body: dict[str, str] | None,
) -> None:
    owner = create_account(private_client, public_client)
    stranger = create_account(private_client, public_client)
    ids = _owned_ids(public_client, owner)
    path = template.format(**ids)

    answer = public_client.request(method, path, headers=stranger.headers, json=body)

    assert answer.status_code == 404, (method, path, answer.text)
    still_there = public_client.get(path, headers=owner.headers)
    assert still_there.status_code == 200
    assert still_there.json().get("name") != "stolen"


def test_lists_show_only_your_own(public_client: TestClient, private_client: TestClient) -> None:
    owner = create_account(private_client, public_client)
    stranger = create_account(private_client, public_client)
    _owned_ids(public_client, owner)
    for path in ("/twin/vehicle/", "/twin/charge-point/"):
        assert public_client.get(path, headers=stranger.headers).json() == {"data": [], "count": 0}
        assert public_client.get(path, headers=owner.headers).json()["count"] == 1
    assert public_client.get("/app-token", headers=stranger.headers).json() == {
        "data": [],
        "count": 0,
    }

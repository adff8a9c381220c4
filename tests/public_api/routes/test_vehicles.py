from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.builders import create_account, create_vehicle, vehicle_body


def test_create_as_in_the_readme(public_client: TestClient, private_client: TestClient) -> None:
    account = create_account(private_client, public_client)
    vehicle = create_vehicle(public_client, account)
    assert vehicle["name"] == "ELU vehicle one"
    assert vehicle["battery_capacity"] == 65
    assert vehicle["maximum_dc_charging_rate"] == 50
    assert vehicle["maximum_ac_charging_rate"] == 50
    assert vehicle["soc"] == 10.0
    assert vehicle["status"] == "ready-to-charge"
    assert len(vehicle["id_tag_suffix"]) == 10 and vehicle["id_tag_suffix"].isupper()
    assert vehicle["id_tag"].endswith(vehicle["id_tag_suffix"])
    assert vehicle["transaction_id"] is None
    assert vehicle["user_id"] == account.id
    assert (vehicle["bidirectional"], vehicle["maximum_discharge_power"]) == (False, 0)
    assert vehicle["minimum_soc"] == 0
    assert public_client.get(f"/twin/vehicle/{vehicle['id']}", headers=account.headers).json() == (
        vehicle
    )


def test_separate_rates_and_a_custom_curve(public_client: TestClient, private_client: TestClient):
    account = create_account(private_client, public_client)
    curve = [[0, 100], [60, 100], [100, 10]]
    vehicle = create_vehicle(
        public_client,
        account,
        maximum_charging_rate=None,
        maximum_dc_charging_rate=100,
        maximum_ac_charging_rate=7.4,
        dc_charging_curve=curve,
        soc=35,
    )
    assert (vehicle["maximum_dc_charging_rate"], vehicle["maximum_ac_charging_rate"]) == (100, 7.4)
    assert vehicle["dc_charging_curve"] == curve
    assert vehicle["soc"] == 35


def test_invalid_bodies_name_what_is_wrong(public_client: TestClient, private_client: TestClient):
    account = create_account(private_client, public_client)
    for body, field in [
        (vehicle_body(battery_capacity=0), "battery_capacity"),
        (vehicle_body(soc=120), "soc"),
        (vehicle_body(dc_charging_curve=[[50, 10], [20, 5]]), "dc_charging_curve"),
        (vehicle_body(ac_charging_curve=[[0, -1], [100, 5]]), "ac_charging_curve"),
        ({"battery_capacity": 40}, "name"),
        (vehicle_body(bidirectional=1), "bidirectional"),
        (vehicle_body(maximum_discharge_power=-1), "maximum_discharge_power"),
        (vehicle_body(minimum_soc=101), "minimum_soc"),
    ]:
        answer = public_client.post("/twin/vehicle/", headers=account.headers, json=body)
        assert answer.status_code == 422, body
        assert answer.json()["detail"][0]["loc"][1] == field


def test_bulk_list_update_delete(public_client: TestClient, private_client: TestClient) -> None:
    account = create_account(private_client, public_client)
    bodies = [vehicle_body(name=f"car {n}") for n in range(3)]
    created = public_client.post("/twin/vehicle/bulk", headers=account.headers, json=bodies)
    assert created.status_code == 200
    assert [vehicle["name"] for vehicle in created.json()] == ["car 0", "car 1", "car 2"]
    assert len({vehicle["id_tag_suffix"] for vehicle in created.json()}) == 3

    page = public_client.get("/twin/vehicle/", headers=account.headers, params={"limit": 2}).json()
    assert page["count"] == 3 and len(page["data"]) == 2

    first = created.json()[0]["id"]
    patched = public_client.patch(
        f"/twin/vehicle/{first}", headers=account.headers, json={"soc": 80, "name": "renamed"}
    )
    assert (patched.json()["soc"], patched.json()["name"]) == (80, "renamed")
    assert (
        public_client.delete(f"/twin/vehicle/{first}", headers=account.headers).status_code == 204
    )
    assert public_client.get(f"/twin/vehicle/{first}", headers=account.headers).status_code == 404
    assert public_client.get("/twin/vehicle/", headers=account.headers).json()["count"] == 2


def test_quota_is_enforced_all_or_none(public_client: TestClient, private_client: TestClient):
    account = create_account(private_client, public_client)
    private_client.put(f"/user/{account.id}/quota", json={"max_vehicles": 2})
    create_vehicle(public_client, account)
    over = public_client.post(
        "/twin/vehicle/bulk", headers=account.headers, json=[vehicle_body(), vehicle_body()]
    )
    assert over.status_code == 403
    assert "quota allows 2 vehicles" in over.json()["detail"]
    assert public_client.get("/twin/vehicle/", headers=account.headers).json()["count"] == 1


def test_unknown_and_malformed_ids(public_client: TestClient, private_client: TestClient) -> None:
    account = create_account(private_client, public_client)
    unknown = public_client.get(f"/twin/vehicle/{uuid.uuid4()}", headers=account.headers)
    assert unknown.status_code == 404
    assert "not found" in unknown.json()["detail"]
    # An id path segment that is not a UUID names no resource: a 404, the same as for an
    # unknown id (and what lets `PATCH /twin/vehicle/bulk` be a 405, not an id to parse).
    malformed = public_client.get("/twin/vehicle/xyz", headers=account.headers)
    assert malformed.status_code == 404
    assert "not a UUID" in malformed.json()["detail"]


def test_patch_null_and_paging_out_of_range_are_422(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    vehicle = create_vehicle(public_client, account, dc_charging_curve=[[0, 50], [100, 5]])
    url = f"/twin/vehicle/{vehicle['id']}"
    null_soc = public_client.patch(url, headers=account.headers, json={"soc": None})
    assert null_soc.status_code == 422
    assert "soc may not be null" in null_soc.text
    back_to_default = public_client.patch(
        url, headers=account.headers, json={"dc_charging_curve": None}
    )
    assert back_to_default.json()["dc_charging_curve"] is None
    huge = public_client.get(
        "/twin/vehicle/", headers=account.headers, params={"offset": 2**64 - 1}
    )
    assert huge.status_code == 422
    assert huge.json()["detail"][0]["loc"] == ["query", "offset"]

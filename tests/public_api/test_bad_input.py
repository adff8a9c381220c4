"""What a user sees when a request body is wrong: a 422 that says what is wrong."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from shared.schemas.action import ChargePointAction
from tests.builders import (
    charge_point_body,
    create_account,
    create_charge_point,
    create_vehicle,
    vehicle_body,
)


def _unknown_field_named(response, field: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(
        error["type"] == "extra_forbidden" and error["loc"][-1] == field for error in errors
    ), errors


def test_a_field_the_api_does_not_know_is_a_422_naming_it(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    headers = account.headers
    post = public_client.post
    _unknown_field_named(
        post("/twin/vehicle/", headers=headers, json=vehicle_body(soc_=80)), "soc_"
    )
    _unknown_field_named(
        post("/twin/charge-point/", headers=headers, json=charge_point_body(evse=[])), "evse"
    )
    nested = charge_point_body(evses=[{"connectors": [{"type": "cType2"}]}])
    _unknown_field_named(post("/twin/charge-point/", headers=headers, json=nested), "type")
    _unknown_field_named(
        post("/twin/charge-point/bulk", headers=headers, json=[charge_point_body(colour=1)]),
        "colour",
    )
    _unknown_field_named(
        post("/app-token", headers=headers, json={"name": "x", "expires_in_days": 3}),
        "expires_in_days",
    )
    vehicle = create_vehicle(public_client, account)
    charge_point = create_charge_point(public_client, account)
    patch = public_client.patch
    _unknown_field_named(
        patch(f"/twin/vehicle/{vehicle['id']}", headers=headers, json={"state": "x"}), "state"
    )
    _unknown_field_named(
        patch(f"/twin/charge-point/{charge_point['id']}", headers=headers, json={"cid": "x"}),
        "cid",
    )
    # Nothing was changed by the refused PATCHes.
    read = public_client.get(f"/twin/charge-point/{charge_point['id']}", headers=headers)
    assert read.json()["cid"] == charge_point["cid"]


def test_action_bodies_refuse_unknown_fields() -> None:
    # The action routes need a running twin host, which answers 503 before the body is
    # read in this client; the schema they validate with is the one checked here.
    body = {"charge_point_id": str(uuid.uuid4()), "timeout_s": 5}
    with pytest.raises(ValidationError, match="timeout_s"):
        ChargePointAction.model_validate(body)


def test_operator_bodies_refuse_unknown_fields(private_client: TestClient) -> None:
    body = {"username": "someone-new", "password": "a-long-password", "admin": True}
    _unknown_field_named(private_client.post("/user/", json=body), "admin")

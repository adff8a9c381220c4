"""The OpenAPI documents of both APIs say what the APIs do: the errors each operation can
answer (with their body), the constraints the code enforces, and ``Allow`` on a 405."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from public_api.app import create_app as create_public_app
from shared.settings import Settings
from tests.builders import (
    charge_point_body,
    create_account,
    create_charge_point,
    vehicle_body,
)

ERROR = {"$ref": "#/components/schemas/ErrorPublic"}
VALIDATION_ERROR = {"$ref": "#/components/schemas/ValidationErrorPublic"}


def answers(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return document["paths"][path][method]["responses"]


def body_schema(answer: dict[str, Any]) -> dict[str, Any]:
    return answer["content"]["application/json"]["schema"]


def test_each_operation_documents_the_errors_it_answers(
    public_client: TestClient, private_client: TestClient
) -> None:
    public = public_client.get("/openapi.json").json()
    patch_vehicle = answers(public, "patch", "/twin/vehicle/{id}")
    assert {"400", "401", "404", "409", "413", "422"} <= set(patch_vehicle)
    assert body_schema(patch_vehicle["409"]) == ERROR
    assert body_schema(patch_vehicle["422"]) == VALIDATION_ERROR
    assert {"401", "403", "409"} <= set(answers(public, "post", "/twin/charge-point/"))
    assert {"401", "403", "404", "409", "503", "504"} <= set(
        answers(public, "post", "/twin/charge-point/action/start-transaction")
    )
    login = answers(public, "post", "/token")
    assert {"401", "429"} <= set(login)
    assert "404" not in login
    # A malformed id is a 404 (no such resource), so a read by id has no 422 to document.
    assert "422" not in answers(public, "get", "/twin/vehicle/{id}")

    private = private_client.get("/openapi.json").json()
    assert set(answers(private, "get", "/hosts")) == {"200", "401"}
    assert {"401", "409", "422"} <= set(answers(private, "post", "/user/"))
    assert {"401", "404"} <= set(answers(private, "delete", "/user/{id}"))

    # What the document says is what the API answers, body included.
    unknown = public_client.patch(
        "/twin/vehicle/7d6c4c4e-0000-4000-8000-000000000000", json={}, headers={}
    )
    assert unknown.status_code == 401
    assert set(unknown.json()) <= {"detail", "code"}


def test_the_constraints_enforced_in_code_are_in_the_schema(
    settings: Settings, engine: Engine
) -> None:
    app = create_public_app(settings.model_copy(update={"app_token_max_days": 30}), engine)
    schemas = app.openapi()["components"]["schemas"]
    assert schemas["AppTokenCreate"]["properties"]["expiry_in_days"]["maximum"] == 30
    evses = schemas["ChargePointCreate"]["properties"]["evses"]
    assert (evses["minItems"], evses["maxItems"]) == (1, 32)
    connectors = schemas["EvseCreate"]["properties"]["connectors"]
    assert (connectors["minItems"], connectors["maxItems"]) == (1, 8)
    curve = schemas["VehicleCreate"]["properties"]["dc_charging_curve"]["anyOf"][0]
    assert curve["minItems"] == 1
    soc, power = curve["items"]["prefixItems"]
    assert (soc["minimum"], soc["maximum"], power["minimum"]) == (0, 100, 0)
    # A PATCH offers null only where null means something (a curve back to the default).
    update = schemas["VehicleUpdate"]["properties"]
    assert update["soc"]["type"] == "number"
    assert "anyOf" not in update["soc"]
    assert {"type": "null"} in update["ac_charging_curve"]["anyOf"]


def test_the_csms_url_pattern_is_exactly_what_the_api_accepts(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    schema = public_client.get("/openapi.json").json()["components"]["schemas"]
    pattern = schema["ChargePointCreate"]["properties"]["csms_url"]["pattern"]
    assert pattern == schema["ChargePointUpdate"]["properties"]["csms_url"]["pattern"]
    charge_point = create_charge_point(public_client, account)
    for url in [
        "ws://localhost:9000",
        "wss://csms.example.com/ocpp/v16",
        "ws://10.0.0.1:65535/",
        "WS://localhost:9000",
        "ws://localhost:09000",
        "ws://localhost:65536",
        "ws://local_host~1:1/a;b=c@d",
        "ws://[::1]:9000",
    ]:
        answer = public_client.patch(
            f"/twin/charge-point/{charge_point['id']}",
            headers=account.headers,
            json={"csms_url": url},
        )
        matches = re.search(pattern, url) is not None
        assert (answer.status_code == 200) == matches, (url, answer.text)
        if not matches:
            assert answer.json()["detail"][0]["loc"] == ["body", "csms_url"]


def test_a_405_names_every_method_the_path_answers(public_client: TestClient) -> None:
    # GET and POST of one path are two routes; Starlette alone would name only one of them.
    for method, path, allow in [
        ("delete", "/twin/vehicle/", "GET, POST"),
        ("put", "/app-token", "GET, POST"),
        ("post", "/twin/charge-point/7d6c4c4e-0000-4000-8000-000000000000", "DELETE, GET, PATCH"),
        # /bulk is not an id: a PATCH there is a method it does not answer, not a bad UUID.
        ("patch", "/twin/vehicle/bulk", "POST"),
    ]:
        answer = public_client.request(method, path)
        assert answer.status_code == 405, (method, path, answer.text)
        assert answer.headers["Allow"] == allow


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        ("/twin/vehicle/", "battery_capacity", True),
        ("/twin/vehicle/", "soc", "50"),
        ("/twin/vehicle/", "dc_charging_curve", [[0, False]]),
        ("/twin/charge-point/", "phases", True),
        ("/twin/charge-point/", "token_cost_per_minute", "2"),
    ],
)
def test_booleans_and_strings_are_not_numbers(
    public_client: TestClient, private_client: TestClient, path: str, field: str, value: Any
) -> None:
    account = create_account(private_client, public_client)
    body = vehicle_body() if path == "/twin/vehicle/" else charge_point_body()
    answer = public_client.post(path, headers=account.headers, json=body | {field: value})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"][:2] == ["body", field]


def test_operator_numbers_and_booleans_are_json_ones(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    quota = private_client.put(f"/user/{account.id}/quota", json={"max_vehicles": 525.0})
    assert quota.status_code == 200, quota.text
    assert quota.json()["quota"]["max_vehicles"] == 525
    text = private_client.put(f"/user/{account.id}/quota", json={"max_vehicles": "5"})
    assert text.status_code == 422
    assert private_client.patch(f"/user/{account.id}", json={"is_active": 0}).status_code == 422
    assert private_client.get(f"/user/{account.id}").json()["is_active"] is True

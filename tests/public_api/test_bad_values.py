"""Values no database or JSON encoder can take (NUL, lone surrogates, NaN / Infinity,
integers wider than their column) are a 422 naming the field on every endpoint, on
SQLite and on Postgres, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from shared.schemas.action import DataTransfer, SetFaulted, StartTransaction
from tests.builders import (
    Account,
    charge_point_body,
    create_account,
    create_charge_point,
    create_vehicle,
    vehicle_body,
)

NUL = "a\x00b"
LONE_SURROGATE = "a\ud800b"
TEXTS = [pytest.param(NUL, id="nul"), pytest.param(LONE_SURROGATE, id="lone-surrogate")]
NUMBERS = [
    pytest.param(float("nan"), id="nan"),
    pytest.param(float("inf"), id="inf"),
    pytest.param(float("-inf"), id="-inf"),
]
INTEGERS = [pytest.param(2**31, id="2**31"), pytest.param(2**64, id="2**64")]


def raw_json(body: Any) -> bytes:
    """JSON as a careless client writes it: NaN / Infinity literals and ``\\ud800`` escapes."""
    return json.dumps(body, allow_nan=True).encode()


def send(client: TestClient, method: str, path: str, account: Account, body: Any) -> Any:
    headers = account.headers | {"Content-Type": "application/json"}
    return client.request(method, path, headers=headers, content=raw_json(body))


def refused(answer: Any, field: str) -> None:
    """A 422 in valid JSON whose errors name ``field``."""
    assert answer.status_code == 422, answer.text
    errors = json.loads(answer.content)["detail"]
    assert any(field in error["loc"] for error in errors), errors


# Each case: (method, path template, body builder, field); {vehicle}/{charge_point} are
# filled with rows of the test's user.
TEXT_FIELDS = [
    ("POST", "/twin/vehicle/", lambda v: vehicle_body(name=v), "name"),
    ("POST", "/twin/vehicle/bulk", lambda v: [vehicle_body(name=v)], "name"),
    ("PATCH", "/twin/vehicle/{vehicle}", lambda v: {"name": v}, "name"),
    ("POST", "/twin/charge-point/", lambda v: charge_point_body(name=v), "name"),
    ("POST", "/twin/charge-point/", lambda v: charge_point_body(vendor=v), "vendor"),
    ("POST", "/twin/charge-point/", lambda v: charge_point_body(serial_number=v), "serial_number"),
    ("POST", "/twin/charge-point/", lambda v: charge_point_body(password=v), "password"),
    (
        "POST",
        "/twin/charge-point/",
        lambda v: charge_point_body(ocpp_configuration={"HeartbeatInterval": v}),
        "ocpp_configuration",
    ),
    (
        "POST",
        "/twin/charge-point/",
        lambda v: charge_point_body(ocpp_configuration={v: "1"}),
        "ocpp_configuration",
    ),
    ("POST", "/twin/charge-point/bulk", lambda v: [charge_point_body(name=v)], "name"),
    ("PATCH", "/twin/charge-point/{charge_point}", lambda v: {"name": v}, "name"),
    ("PATCH", "/twin/charge-point/{charge_point}", lambda v: {"password": v}, "password"),
    ("POST", "/app-token", lambda v: {"name": v, "expiry_in_days": 3}, "name"),
]
NUMBER_FIELDS = [
    ("POST", "/twin/vehicle/", lambda v: vehicle_body(battery_capacity=v), "battery_capacity"),
    ("POST", "/twin/vehicle/", lambda v: vehicle_body(soc=v), "soc"),
    (
        "POST",
        "/twin/vehicle/",
        lambda v: vehicle_body(dc_charging_curve=[[0, 50], [100, v]]),
        "dc_charging_curve",
    ),
    ("POST", "/twin/vehicle/bulk", lambda v: [vehicle_body(soc=v)], "soc"),
    ("PATCH", "/twin/vehicle/{vehicle}", lambda v: {"soc": v}, "soc"),
    (
        "PATCH",
        "/twin/vehicle/{vehicle}",
        lambda v: {"maximum_ac_charging_rate": v},
        "maximum_ac_charging_rate",
    ),
    ("POST", "/twin/charge-point/", lambda v: charge_point_body(speed_factor=v), "speed_factor"),
    ("POST", "/twin/charge-point/", lambda v: charge_point_body(voltage_ac=v), "voltage_ac"),
    ("POST", "/twin/charge-point/bulk", lambda v: [charge_point_body(voltage_dc=v)], "voltage_dc"),
    (
        "PATCH",
        "/twin/charge-point/{charge_point}",
        lambda v: {"maximum_dc_power": v},
        "maximum_dc_power",
    ),
]
INTEGER_FIELDS = [
    (
        "POST",
        "/twin/charge-point/",
        lambda v: charge_point_body(token_cost_per_minute=v),
        "token_cost_per_minute",
    ),
    (
        "POST",
        "/twin/charge-point/bulk",
        lambda v: [charge_point_body(token_cost_per_minute=v)],
        "token_cost_per_minute",
    ),
    ("POST", "/twin/charge-point/", lambda v: charge_point_body(phases=v), "phases"),
    ("POST", "/app-token", lambda v: {"name": "x", "expiry_in_days": v}, "expiry_in_days"),
]


def _sweep(
    public_client: TestClient,
    private_client: TestClient,
    cases: list[tuple[str, str, Any, str]],
    value: Any,
) -> None:
    account = create_account(private_client, public_client)
    ids = {
        "vehicle": create_vehicle(public_client, account)["id"],
        "charge_point": create_charge_point(public_client, account)["id"],
    }
    for method, path, body, field in cases:
        answer = send(public_client, method, path.format(**ids), account, body(value))
        refused(answer, field)
    vehicles = public_client.get("/twin/vehicle/", headers=account.headers).json()
    charge_points = public_client.get("/twin/charge-point/", headers=account.headers).json()
    assert (vehicles["count"], charge_points["count"]) == (1, 1)


@pytest.mark.parametrize("value", TEXTS)
def test_text_no_database_can_store_is_a_422(
    public_client: TestClient, private_client: TestClient, value: str
) -> None:
    _sweep(public_client, private_client, TEXT_FIELDS, value)


@pytest.mark.parametrize("value", NUMBERS)
def test_nan_and_infinity_are_a_422_that_can_be_rendered(
    public_client: TestClient, private_client: TestClient, value: float
) -> None:
    _sweep(public_client, private_client, NUMBER_FIELDS, value)


@pytest.mark.parametrize("value", INTEGERS)
def test_an_integer_wider_than_its_column_is_a_422(
    public_client: TestClient, private_client: TestClient, value: int
) -> None:
    _sweep(public_client, private_client, INTEGER_FIELDS, value)


def test_the_login_form_refuses_a_nul_byte(
    public_client: TestClient, private_client: TestClient
) -> None:
    # A form cannot carry a lone surrogate: its bytes are decoded with replacement.
    account = create_account(private_client, public_client)
    for form in (
        {"username": NUL, "password": account.password},
        {"username": account.username, "password": NUL},
    ):
        answer = public_client.post("/token", data=form)
        assert answer.status_code == 422, answer.text
        assert json.loads(answer.content)["detail"][0]["loc"][0] == "body"
    # The user can still log in: the refusals were no failed logins.
    good = {"username": account.username, "password": account.password}
    assert public_client.post("/token", data=good).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/user/", {"max_charge_points": 2**31}, "max_charge_points"),
        ("POST", "/user/", {"max_vehicles": 2**64}, "max_vehicles"),
        ("POST", "/user/", {"password": "long-enough\x00"}, "password"),
        ("POST", "/user/", {"password": "long-enough\ud800"}, "password"),
        ("PUT", "/user/{user}/quota", {"max_charge_points": 2**31}, "max_charge_points"),
        ("PUT", "/user/{user}/quota", {"max_vehicles": 2**64}, "max_vehicles"),
        ("PATCH", "/user/{user}", {"password": "long-enough\x00"}, "password"),
        ("PATCH", "/user/{user}", {"is_active": float("nan")}, "is_active"),
    ],
)
def test_operator_bodies_refuse_unstorable_values(
    public_client: TestClient,
    private_client: TestClient,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    account = create_account(private_client, public_client)
    if path == "/user/":
        body = {"username": f"new-{account.username}", "password": "a-long-password"} | body
    answer = private_client.request(
        method,
        path.format(user=account.id),
        headers={"Content-Type": "application/json"},
        content=raw_json(body),
    )
    refused(answer, field)
    quota = private_client.get(f"/user/{account.id}").json()["quota"]
    assert quota["max_charge_points"] < 2**31 and quota["max_vehicles"] < 2**31


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (StartTransaction, {"id_tag": NUL}),
        (StartTransaction, {"timeout": float("nan")}),
        (SetFaulted, {"connector_id": "00000000-0000-0000-0000-000000000001", "info": NUL}),
        (DataTransfer, {"vendor_id": LONE_SURROGATE}),
        (DataTransfer, {"vendor_id": "v", "data": {"x": [1, float("inf")]}}),
        (DataTransfer, {"vendor_id": "v", "data": 2**64}),
    ],
)
def test_action_bodies_refuse_what_the_wire_cannot_carry(
    model: type[Any], body: dict[str, Any]
) -> None:
    # The action routes need a running host; the schemas they validate with are checked here.
    ids = {
        "connector_id": "00000000-0000-0000-0000-000000000001",
        "vehicle_id": "00000000-0000-0000-0000-000000000002",
        "charge_point_id": "00000000-0000-0000-0000-000000000003",
    }
    fields = {name: value for name, value in ids.items() if name in model.model_fields}
    with pytest.raises(ValidationError):
        model.model_validate(fields | body)


def test_query_filters_refuse_a_nul_byte(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    charge_point = create_charge_point(public_client, account)
    for client, path, params, headers in (
        (
            public_client,
            f"/twin/charge-point/{charge_point['id']}/message-log",
            {"action": NUL},
            account.headers,
        ),
        (private_client, "/charge-points", {"host": NUL}, {}),
    ):
        answer = client.get(path, params=params, headers=headers)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"][0] == "query"

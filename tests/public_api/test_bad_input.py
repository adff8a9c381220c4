"""What a user sees when a request body is wrong: a 422 that says what is wrong."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import anyio
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine

from public_api.app import create_app as create_public_app
from shared.schemas.action import ChargePointAction
from shared.schemas.common import BULK_MAX_ITEMS
from shared.settings import Settings
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


@pytest.fixture
def small_limit_client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The public API with a 4 KiB body limit (1 MiB for bulk creates)."""
    small = settings.model_copy(
        update={"max_request_bytes": 4096, "max_bulk_request_bytes": 1024 * 1024}
    )
    with TestClient(create_public_app(small, engine)) as client:
        yield client


def test_a_body_over_the_limit_is_a_413_before_it_is_read(
    small_limit_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, small_limit_client)
    big = vehicle_body(name="x" * 5000)
    answer = small_limit_client.post("/twin/vehicle/", headers=account.headers, json=big)
    assert answer.status_code == 413
    assert answer.json()["detail"] == (
        "request body too large: at most 4096 bytes (ELU_MAX_REQUEST_BYTES)"
    )

    # Without a Content-Length the body is read only until it passes the limit.
    chunks_read = 0

    async def receive() -> dict[str, object]:
        nonlocal chunks_read
        chunks_read += 1
        return {"type": "http.request", "body": b" " * 1024, "more_body": chunks_read < 100}

    answers: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        answers.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/twin/vehicle/",
        "raw_path": b"/twin/vehicle/",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"authorization", account.headers["Authorization"].encode()),
        ],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    anyio.run(small_limit_client.app, scope, receive, send)
    assert answers[0]["status"] == 413
    assert b"at most 4096 bytes" in answers[1]["body"]  # type: ignore[operator]
    assert chunks_read == 5

    # A bulk create may be larger, up to its own limit.
    bulk = [vehicle_body(name=f"vehicle {index}") for index in range(100)]
    answer = small_limit_client.post("/twin/vehicle/bulk", headers=account.headers, json=bulk)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()) == 100


def test_a_422_does_not_echo_a_large_input_back(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    long_name = "x" * 100_000
    answer = public_client.post(
        "/twin/vehicle/", headers=account.headers, json=vehicle_body(name=long_name)
    )
    assert answer.status_code == 422
    assert len(answer.content) < 1000
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "name"]
    assert error["input"] == "x" * 100 + "… (100000 characters)"


def test_a_bulk_over_the_item_limit_is_a_422_saying_the_limit(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    bulk = [vehicle_body()] * (BULK_MAX_ITEMS + 1)
    answer = public_client.post("/twin/vehicle/bulk", headers=account.headers, json=bulk)
    assert answer.status_code == 422
    assert len(answer.content) < 1000
    (error,) = answer.json()["detail"]
    assert error["msg"] == "List should have at most 1000 items after validation, not 1001"
    assert error["input"].endswith("… (1001 items)")
    assert public_client.get("/twin/vehicle/", headers=account.headers).json()["count"] == 0
    schema = public_client.get("/openapi.json").json()
    bulk_body = schema["paths"]["/twin/vehicle/bulk"]["post"]["requestBody"]
    assert "1 to 1000 items" in bulk_body["content"]["application/json"]["schema"]["description"]


@pytest.mark.parametrize(
    ("csms_url", "says"),
    [
        ("ws://localhost:99999", "port must be a number from 1 to 65535"),
        ("ws://localhost:abc", "port must be a number from 1 to 65535"),
        ("ws://localhost:0", "port must be a number from 1 to 65535"),
        ("http://localhost:9000", "must be a websocket URL"),
        ("ws://:9000", "must be a websocket URL"),
        ("ws://localhost:9000/ocpp?token=1", "no ?query or #fragment"),
        ("ws://local host:9000", "without spaces"),
        ("ws://localhost/" + "a" * 600, "at most 512 characters"),
    ],
)
def test_a_bad_csms_url_is_a_422_naming_it_at_create_and_patch(
    public_client: TestClient, private_client: TestClient, csms_url: str, says: str
) -> None:
    account = create_account(private_client, public_client)
    created = public_client.post(
        "/twin/charge-point/", headers=account.headers, json=charge_point_body(csms_url=csms_url)
    )
    charge_point = create_charge_point(public_client, account)
    patched = public_client.patch(
        f"/twin/charge-point/{charge_point['id']}",
        headers=account.headers,
        json={"csms_url": csms_url},
    )
    for answer in (created, patched):
        assert answer.status_code == 422, answer.text
        (error,) = answer.json()["detail"]
        assert error["loc"] == ["body", "csms_url"]
        assert says in error["msg"]
    read = public_client.get(f"/twin/charge-point/{charge_point['id']}", headers=account.headers)
    assert read.json()["csms_url"] == "ws://localhost:9000"


@pytest.mark.parametrize("cid", [".", "..", "a/b", "a%2Fb", "a b", "ä"])
def test_a_cid_a_url_path_would_rewrite_is_a_422(
    public_client: TestClient, private_client: TestClient, cid: str
) -> None:
    account = create_account(private_client, public_client)
    answer = public_client.post(
        "/twin/charge-point/", headers=account.headers, json=charge_point_body(cid=cid)
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "cid"]


def test_number_of_connectors_is_read_only_and_says_what_the_charge_point_reports(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    said = (
        "ocpp_configuration: NumberOfConnectors: NumberOfConnectors is read-only and follows "
        "from the charge point's connectors: it reports 2"
    )
    created = public_client.post(
        "/twin/charge-point/",
        headers=account.headers,
        json=charge_point_body(ocpp_configuration={"NumberOfConnectors": "4"}),
    )
    assert created.status_code == 422
    assert created.json()["detail"] == said

    charge_point = create_charge_point(public_client, account)
    patched = public_client.patch(
        f"/twin/charge-point/{charge_point['id']}",
        headers=account.headers,
        json={"ocpp_configuration": {"numberofconnectors": "4"}},
    )
    assert patched.status_code == 422
    assert patched.json()["detail"].endswith("it reports 2")

    # Other read-only keys model a charger's fixed settings, and are taken.
    fixed = public_client.patch(
        f"/twin/charge-point/{charge_point['id']}",
        headers=account.headers,
        json={"ocpp_configuration": {"ChargeProfileMaxStackLevel": "3"}},
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["ocpp_configuration"] == {"ChargeProfileMaxStackLevel": "3"}

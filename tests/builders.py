"""Small helpers that build test data through the APIs, the way a user would."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from shared.crud.charge_points import create_charge_points
from shared.crud.users import create_user
from shared.db import session_for
from shared.schemas.charge_point import ChargePointCreate
from shared.schemas.user import UserCreate
from shared.settings import Settings
from worker.persistence import TwinRows


@dataclass
class Account:
    id: str
    username: str
    password: str
    headers: dict[str, str]


def create_account(private_client: TestClient, public_client: TestClient) -> Account:
    """A new user (unique name, so tests share databases without colliding) and a token."""
    username = f"user-{uuid.uuid4().hex[:10]}"
    password = "a-long-password"
    response = private_client.post("/user/", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token = login(public_client, username, password)
    return Account(
        id=response.json()["id"],
        username=username,
        password=password,
        headers={"Authorization": f"Bearer {token}"},
    )


def login(public_client: TestClient, username: str, password: str) -> str:
    response = public_client.post("/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def vehicle_body(**overrides: Any) -> dict[str, Any]:
    return {"name": "ELU vehicle one", "battery_capacity": 65, "maximum_charging_rate": 50} | (
        overrides
    )


def charge_point_body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "ELU Charger 1",
        "maximum_dc_power": 180,
        "maximum_ac_power": 20,
        "ocpp_protocol": "ocpp1.6",
        "csms_url": "ws://localhost:9000",
        "evses": [
            {"connectors": [{"connector_type": "cCCS1"}]},
            {"connectors": [{"connector_type": "cCCS1"}]},
        ],
    } | overrides


def create_vehicle(client: TestClient, account: Account, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        "/twin/vehicle/", headers=account.headers, json=vehicle_body(**overrides)
    )
    assert response.status_code == 200, response.text
    return response.json()


def create_charge_point(client: TestClient, account: Account, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        "/twin/charge-point/", headers=account.headers, json=charge_point_body(**overrides)
    )
    assert response.status_code == 200, response.text
    return response.json()


def stored_charge_point(engine: Engine, settings: Settings) -> tuple[str, TwinRows]:
    """A user and a charge point written straight to the database, for tests below the API."""
    with session_for(engine) as session:
        user = create_user(
            session,
            UserCreate(username=f"u-{uuid.uuid4().hex[:8]}", password="a-long-password"),
            settings,
        )
        (charge_point,) = create_charge_points(
            session, user, [ChargePointCreate(name="cp", csms_url="ws://localhost:9000")]
        )
        connector = charge_point.evses[0].connectors[0]
        rows = TwinRows(user.id, {1: (connector.id, charge_point.evses[0].id)})
        return str(charge_point.id), rows

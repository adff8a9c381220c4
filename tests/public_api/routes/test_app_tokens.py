from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from shared.db import session_for
from shared.models import AppToken
from tests.builders import create_account


def test_create_use_list_read_and_revoke(public_client: TestClient, private_client: TestClient):
    account = create_account(private_client, public_client)
    created = public_client.post(
        "/app-token", headers=account.headers, json={"name": "test", "expiry_in_days": 3}
    )
    assert created.status_code == 200
    body = created.json()
    expires = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(
        body["created_at"]
    )
    assert expires == timedelta(days=3)
    app_headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert public_client.get("/user/me", headers=app_headers).json()["id"] == account.id

    listed = public_client.get("/app-token", headers=account.headers).json()
    assert [token["name"] for token in listed] == ["test"]
    assert "access_token" not in listed[0]
    assert public_client.get(f"/app-token/{body['id']}", headers=account.headers).json()[
        "name"
    ] == ("test")

    assert public_client.delete(
        f"/app-token/{body['id']}", headers=account.headers
    ).status_code == (204)
    revoked = public_client.get("/user/me", headers=app_headers)
    assert revoked.status_code == 401
    assert revoked.json()["detail"] == "app token revoked"


def test_app_token_stops_working_when_it_expires(
    public_client: TestClient, private_client: TestClient, engine: Engine
) -> None:
    account = create_account(private_client, public_client)
    body = public_client.post(
        "/app-token", headers=account.headers, json={"name": "short", "expiry_in_days": 1}
    ).json()
    with session_for(engine) as session:
        session.execute(
            update(AppToken)
            .where(AppToken.id == uuid.UUID(body["id"]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    answer = public_client.get(
        "/user/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert answer.status_code == 401
    assert answer.json()["detail"] == "app token expired"


def test_expiry_must_be_positive(public_client: TestClient, private_client: TestClient) -> None:
    account = create_account(private_client, public_client)
    bad = public_client.post(
        "/app-token", headers=account.headers, json={"name": "x", "expiry_in_days": 0}
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "expiry_in_days"]

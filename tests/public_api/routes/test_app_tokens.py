from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from shared.db import session_for
from shared.models import AppToken
from shared.security import ALGORITHM
from shared.settings import Settings
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
    assert listed["count"] == 1
    assert [token["name"] for token in listed["data"]] == ["test"]
    assert "access_token" not in listed["data"][0]
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


def test_expiry_above_the_maximum_is_a_422_saying_it(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    answer = public_client.post(
        "/app-token", headers=account.headers, json={"name": "long", "expiry_in_days": 366}
    )
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "expiry_in_days"]
    assert error["msg"] == "Input should be less than or equal to 365 (ELU_APP_TOKEN_MAX_DAYS)"
    assert public_client.get("/app-token", headers=account.headers).json()["count"] == 0
    at_most = public_client.post(
        "/app-token", headers=account.headers, json={"name": "year", "expiry_in_days": 365}
    )
    assert at_most.status_code == 200


def test_an_app_token_cannot_create_app_tokens(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    app_token = public_client.post(
        "/app-token", headers=account.headers, json={"name": "ci", "expiry_in_days": 3}
    ).json()["access_token"]
    answer = public_client.post(
        "/app-token",
        headers={"Authorization": f"Bearer {app_token}"},
        json={"name": "another", "expiry_in_days": 3},
    )
    assert answer.status_code == 403
    assert answer.json()["detail"] == (
        "an app token cannot create app tokens: use an access token from POST /token"
    )
    assert public_client.get("/app-token", headers=account.headers).json()["count"] == 1


@pytest.mark.parametrize("kind", ["refresh", None, 7])
def test_a_token_of_an_unknown_kind_is_refused(
    public_client: TestClient, private_client: TestClient, settings: Settings, kind: object
) -> None:
    account = create_account(private_client, public_client)
    now = datetime.now(UTC)
    claims = {"sub": account.id, "iat": now, "exp": now + timedelta(hours=1), "typ": kind}
    token = jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM)
    answer = public_client.get("/user/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert answer.json()["detail"] == "invalid token"

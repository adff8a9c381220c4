from __future__ import annotations

from fastapi.testclient import TestClient

from tests.builders import create_account


def test_token_then_me(public_client: TestClient, private_client: TestClient) -> None:
    account = create_account(private_client, public_client)
    me = public_client.get("/user/me", headers=account.headers)
    assert me.status_code == 200
    assert me.json()["username"] == account.username
    assert me.json()["id"] == account.id


def test_wrong_password_and_missing_or_forged_tokens_are_401(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    wrong = public_client.post("/token", data={"username": account.username, "password": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "incorrect username or password"
    assert public_client.get("/user/me").status_code == 401
    forged = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.forged"}
    assert public_client.get("/user/me", headers=forged).json()["detail"] == "invalid token"


def test_deactivated_user_loses_access(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    private_client.patch(f"/user/{account.id}", json={"is_active": False})
    assert public_client.get("/user/me", headers=account.headers).status_code == 401
    again = public_client.post(
        "/token", data={"username": account.username, "password": account.password}
    )
    assert again.status_code == 401

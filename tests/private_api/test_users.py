from __future__ import annotations

import uuid

from fastapi.testclient import TestClient


def test_every_call_needs_the_operator_key(private_client: TestClient) -> None:
    body = {"username": f"u-{uuid.uuid4().hex[:8]}", "password": "a-long-password"}
    missing = private_client.post("/user/", json=body, headers={"X-Operator-Key": ""})
    assert missing.status_code == 401
    wrong = private_client.post("/user/", json=body, headers={"X-Operator-Key": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "wrong operator key"
    assert private_client.get("/user/", headers={"X-Operator-Key": "nope"}).status_code == 401


def test_create_user_with_default_quota_then_change_it(private_client: TestClient) -> None:
    username = f"u-{uuid.uuid4().hex[:8]}"
    created = private_client.post("/user/", json={"username": username, "password": "long-pass"})
    assert created.status_code == 200
    user = created.json()
    assert user["username"] == username
    assert "password" not in user and "hashed_password" not in user
    assert user["quota"]["max_charge_points"] == 100

    changed = private_client.put(f"/user/{user['id']}/quota", json={"max_charge_points": 3})
    assert changed.json()["quota"] == user["quota"] | {"max_charge_points": 3}
    assert private_client.get(f"/user/{user['id']}").json()["quota"]["max_charge_points"] == 3


def test_duplicate_username_is_a_conflict(private_client: TestClient) -> None:
    body = {"username": f"u-{uuid.uuid4().hex[:8]}", "password": "a-long-password"}
    assert private_client.post("/user/", json=body).status_code == 200
    again = private_client.post("/user/", json=body)
    assert again.status_code == 409
    assert body["username"] in again.json()["detail"]


def test_bad_bodies_name_the_field(private_client: TestClient) -> None:
    short = private_client.post("/user/", json={"username": "someone", "password": "short"})
    assert short.status_code == 422
    assert short.json()["detail"][0]["loc"] == ["body", "password"]
    missing = private_client.post("/user/", json={"password": "a-long-password"})
    assert missing.json()["detail"][0]["loc"] == ["body", "username"]
    assert private_client.post("/user/", content=b"{not json").status_code == 422


def test_unknown_user_is_404_and_delete_removes(private_client: TestClient) -> None:
    assert private_client.get(f"/user/{uuid.uuid4()}").status_code == 404
    assert private_client.get("/user/not-a-uuid").status_code == 404
    body = {"username": f"u-{uuid.uuid4().hex[:8]}", "password": "a-long-password"}
    user_id = private_client.post("/user/", json=body).json()["id"]
    assert private_client.delete(f"/user/{user_id}").status_code == 204
    assert private_client.get(f"/user/{user_id}").status_code == 404


def test_list_users_is_paged(private_client: TestClient) -> None:
    for _ in range(2):
        body = {"username": f"u-{uuid.uuid4().hex[:8]}", "password": "a-long-password"}
        private_client.post("/user/", json=body)
    page = private_client.get("/user/", params={"limit": 1}).json()
    assert len(page["data"]) == 1
    assert page["count"] >= 2

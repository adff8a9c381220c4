from __future__ import annotations

import time
import uuid

from fastapi.testclient import TestClient

from tests.builders import create_account, login


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


def _login_seconds(client: TestClient, username: str, password: str) -> float:
    started = time.perf_counter()
    answer = client.post("/token", data={"username": username, "password": password})
    assert answer.status_code == 401
    assert answer.json()["detail"] == "incorrect username or password"
    return time.perf_counter() - started


def test_an_unknown_user_costs_as_much_as_a_wrong_password(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    # The fastest of a few tries of each (4: the login throttle allows 5 failures).
    wrong_password = min(
        _login_seconds(public_client, account.username, "not-the-password") for _ in range(4)
    )
    unknown_user = min(
        _login_seconds(public_client, f"nobody-{uuid.uuid4().hex}", "not-the-password")
        for _ in range(4)
    )
    # Without a hash to verify, an unknown user answers in a few milliseconds (a lookup),
    # a wrong password in tens (Argon2): about 50 times longer, which would tell who has
    # an account. The bound is loose so that a busy machine does not fail it.
    assert unknown_user > wrong_password / 5, (unknown_user, wrong_password)


def test_repeated_failures_for_one_username_are_slowed_down(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    other = create_account(private_client, public_client)
    # The throttle's clock stands still unless moved: a slow machine earns no tries back.
    now = [0.0]
    public_client.app.state.login_throttle.clock = lambda: now[0]  # type: ignore[attr-defined]
    failures = [
        public_client.post("/token", data={"username": account.username, "password": "guess"})
        for _ in range(5)
    ]
    assert [answer.status_code for answer in failures] == [401] * 5
    slowed = public_client.post(
        "/token", data={"username": account.username, "password": account.password}
    )
    assert slowed.status_code == 429
    retry_after = int(slowed.headers["Retry-After"])
    assert 1 <= retry_after <= 2
    assert slowed.json()["detail"] == (
        f"too many failed logins for this username: try again in {retry_after} s"
    )
    # Other usernames are not slowed down.
    login(public_client, other.username, other.password)
    now[0] += retry_after
    login(public_client, account.username, account.password)

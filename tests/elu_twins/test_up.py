"""`elu-twins up` as a new user meets it: Steps 1-3 of the README over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.embedded import login, run_csms, run_embedded


def test_readme_steps_1_to_3_against_a_running_instance(tmp_path: Path) -> None:
    with run_embedded(tmp_path) as embedded:
        log = (tmp_path / "up.log").read_text()
        assert embedded.operator_key in log
        assert "curl -X POST" in log

        user = httpx.post(
            f"{embedded.private_url}/user/",
            headers={"X-Operator-Key": embedded.operator_key},
            json={"username": "me", "password": "change-me-please"},
        )
        assert user.status_code == 200, user.text

        token = httpx.post(
            f"{embedded.public_url}/token",
            data={"username": "me", "password": "change-me-please"},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        app_token = httpx.post(
            f"{embedded.public_url}/app-token",
            headers=headers,
            json={"name": "test", "expiry_in_days": 3},
        )
        assert app_token.status_code == 200
        headers = {"Authorization": f"Bearer {app_token.json()['access_token']}"}

        vehicle = httpx.post(
            f"{embedded.public_url}/twin/vehicle/",
            headers=headers,
            json={"name": "ELU vehicle one", "battery_capacity": 65, "maximum_charging_rate": 50},
        )
        assert vehicle.json()["maximum_ac_charging_rate"] == 50
        charge_point = httpx.post(
            f"{embedded.public_url}/twin/charge-point/",
            headers=headers,
            json={
                "name": "ELU Charger 1",
                "ocpp_protocol": "ocpp1.6",
                "csms_url": "ws://localhost:9000",
                "evses": [{"connectors": [{"connector_type": "cCCS1"}]}],
            },
        )
        assert charge_point.status_code == 200, charge_point.text
        assert (tmp_path / "elu.sqlite3").exists()

    # A second start reuses the same data: the user is still there.
    with run_embedded(tmp_path) as embedded:
        token = httpx.post(
            f"{embedded.public_url}/token",
            data={"username": "me", "password": "change-me-please"},
        )
        assert token.status_code == 200


def test_a_port_in_use_is_reported_clearly(tmp_path: Path) -> None:
    with run_embedded(tmp_path / "first") as embedded:
        second = subprocess.run(
            [sys.executable, "-m", "elu_twins", "up"],
            env=os.environ | embedded.env() | {"ELU_DATA_DIR": str(tmp_path / "second")},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert second.returncode != 0
    assert "already in use" in second.stderr


def elu_twins(*arguments: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the `elu-twins` command as a user would, with its data in ``data_dir``."""
    return subprocess.run(
        [sys.executable, "-m", "elu_twins", *arguments],
        env=os.environ | {"ELU_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_user_create_command(tmp_path: Path) -> None:
    result = elu_twins("user", "create", "operator", "--password", "pw-123456", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "created user operator" in result.stdout
    again = elu_twins("user", "create", "operator", "--password", "pw-123456", data_dir=tmp_path)
    assert again.returncode == 1
    assert "taken" in again.stderr


def test_migrate_command(tmp_path: Path) -> None:
    result = elu_twins("migrate", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "database is up to date" in result.stdout
    assert (tmp_path / "elu.sqlite3").exists()


@pytest.mark.parametrize(("command", "subprotocol"), [("csms-v16", "1.6"), ("csms-v201", "2.0.1")])
def test_each_test_csms_runs_on_its_own(command: str, subprotocol: str, tmp_path: Path) -> None:
    with run_csms(command, tmp_path) as url:
        assert httpx.get(f"{url}/api/settings").status_code == 200
        docs = httpx.get(f"{url}/openapi.json").json()
        assert subprotocol in docs["info"]["title"]


def test_each_server_labels_its_log_lines(tmp_path: Path) -> None:
    with run_embedded(tmp_path) as embedded:
        ports = embedded.ports
        for port in ports.values():
            assert httpx.get(f"http://127.0.0.1:{port}/openapi.json").status_code == 200
    lines = (tmp_path / "up.log").read_text().splitlines()
    for label, port in [
        ("public API", ports["PUBLIC_API"]),
        ("private API", ports["PRIVATE_API"]),
        ("CSMS 1.6", ports["CSMS_V16"]),
        ("CSMS 2.0.1", ports["CSMS_V201"]),
    ]:
        running = f"[{label}] uvicorn.error: Uvicorn running on http://127.0.0.1:{port} "
        assert any(running in line for line in lines), (label, lines)
        served = [line for line in lines if f"[{label}] uvicorn.access:" in line]
        assert any('"GET /openapi.json HTTP/1.1" 200' in line for line in served), (label, lines)
    # Every server's line is labelled, not only the startup ones: each request once.
    access = [line for line in lines if "uvicorn.access:" in line and "/openapi.json" in line]
    assert len({line.split("[", 1)[1].split("]", 1)[0] for line in access}) >= 4


def test_the_first_user_hint_shows_only_while_there_is_no_user(tmp_path: Path) -> None:
    log = tmp_path / "up.log"
    with run_embedded(tmp_path) as embedded:
        assert "Create your first user:" in log.read_text()
        login(embedded)
    seen = len(log.read_text())
    with run_embedded(tmp_path, ports=embedded.ports):
        again = log.read_text()[seen:]
    assert "ELU Twins is running" in again
    assert "Create your first user:" not in again
    assert embedded.operator_key in again


def test_open_event_streams_do_not_keep_up_from_stopping(tmp_path: Path) -> None:
    with run_embedded(tmp_path) as embedded:
        headers = login(embedded)
        csms_url = f"http://127.0.0.1:{embedded.ports['CSMS_V16']}/api/events"
        with (
            httpx.stream("GET", f"{embedded.public_url}/twin/events", headers=headers) as twins,
            httpx.stream("GET", csms_url) as csms,
        ):
            assert twins.status_code == csms.status_code == 200
            embedded.process.terminate()
            try:
                returncode = embedded.process.wait(60)
            except subprocess.TimeoutExpired:
                returncode = None
    assert returncode == 0, (tmp_path / "up.log").read_text()[-2000:]

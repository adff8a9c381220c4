"""`elu-twins watch CP` against a running `elu-twins up`: the frames of one charge point, live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.embedded import login, run_embedded


def test_watch_prints_a_charge_points_frames_as_they_happen(tmp_path: Path) -> None:
    with run_embedded(tmp_path / "elu") as embedded:
        headers = login(embedded)
        token = headers["Authorization"].removeprefix("Bearer ")
        csms_url = f"ws://127.0.0.1:{embedded.ports['CSMS_V16']}"
        charge_point = httpx.post(
            f"{embedded.public_url}/twin/charge-point/",
            headers=headers,
            json={"name": "watched", "csms_url": csms_url},
        ).json()
        environment = os.environ | {"ELU_PUBLIC_URL": embedded.public_url, "ELU_TOKEN": token}

        def watch(*arguments: str) -> subprocess.Popen[str]:
            return subprocess.Popen(
                [sys.executable, "-m", "elu_twins", "watch", *arguments],
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

        frames = watch(charge_point["cid"], "--count", "4")
        states = watch(charge_point["id"], "--kinds", "charge_point", "--json", "--count", "1")
        try:
            time.sleep(3)  # let both subscribe: a stream has no replay of what came before
            connected = httpx.post(
                f"{embedded.public_url}/twin/charge-point/action/connect-charger",
                headers=headers,
                json={"charge_point_id": charge_point["id"]},
                timeout=60,
            )
            assert connected.status_code == 200, connected.text
            out, err = frames.communicate(timeout=60)
            state_out, state_err = states.communicate(timeout=60)
        finally:
            frames.kill()
            states.kill()
        assert frames.returncode == 0, err
        lines = out.splitlines()
        assert len(lines) == 4, out
        assert "→ CALL BootNotification" in lines[0]
        assert "← CALLRESULT BootNotification" in lines[1]
        assert '"status":"Accepted"' in lines[1]
        assert states.returncode == 0, state_err
        event = json.loads(state_out)
        assert (event["kind"], event["charge_point_id"]) == ("charge_point", charge_point["id"])

        unknown = subprocess.run(
            [sys.executable, "-m", "elu_twins", "watch", "no-such-cp"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert unknown.returncode == 1
        assert "no charge point with id or cid 'no-such-cp'" in unknown.stderr

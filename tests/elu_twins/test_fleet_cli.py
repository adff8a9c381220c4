"""`elu-twins fleet` against a running `elu-twins up`, as a CSMS developer would use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.embedded import Embedded, login, run_embedded

EXAMPLE = Path(__file__).parents[2] / "examples" / "fleet.yaml"


def fleet_cli(embedded: Embedded, *arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "elu_twins", "fleet", *arguments],
        env=os.environ | {"ELU_PUBLIC_URL": embedded.public_url} | env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _example_for(embedded: Embedded, folder: Path, **scenario: Any) -> Path:
    """The README's example file, pointed at this instance's CSMSs and made smaller."""
    body = yaml.safe_load(EXAMPLE.read_text())
    body["charge_points"]["count"] = 10
    body["charge_points"]["csms_url"] = f"ws://127.0.0.1:{embedded.ports['CSMS_V16']}/{{cid}}"
    body["charge_points"]["csms_url_v201"] = f"ws://127.0.0.1:{embedded.ports['CSMS_V201']}"
    body["scenario"] |= {"arrivals_per_hour": None, "mean_arrival_interval": 600} | scenario
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_fleet_run_status_and_delete_from_the_terminal(tmp_path: Path) -> None:
    with run_embedded(tmp_path / "elu", timeout=120) as embedded:
        headers = login(embedded)
        token = headers["Authorization"].removeprefix("Bearer ")
        scenario = _example_for(embedded, tmp_path)

        ran = fleet_cli(
            embedded, "run", str(scenario), "--duration", "4", "--json", ELU_TOKEN=token
        )
        assert ran.returncode == 0, ran.stderr
        summary = json.loads(ran.stdout)
        assert summary["status"] == "stopped"
        assert summary["counts"]["booted"] == 10
        assert summary["sessions"]["started"] > 0
        assert summary["sessions"]["ended"] == summary["sessions"]["started"]
        assert summary["latency"]["BootNotification"]["p99_ms"] is not None
        assert summary["messages"]["BootNotification"]["sent"] == 10

        v16 = httpx.get(f"http://127.0.0.1:{embedded.ports['CSMS_V16']}/api/transactions").json()
        v201 = httpx.get(f"http://127.0.0.1:{embedded.ports['CSMS_V201']}/api/transactions").json()
        at_csms = v16["data"] + v201["data"]
        assert len(at_csms) == summary["sessions"]["started"]
        assert all(tx["stopped_at"] is not None for tx in at_csms)

        status = fleet_cli(
            embedded,
            "status",
            summary["id"],
            "--json",
            "--username",
            "me",
            "--password",
            "change-me-please",
        )
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["sessions"] == summary["sessions"]

        deleted = fleet_cli(embedded, "delete", summary["id"], ELU_TOKEN=token)
        assert deleted.returncode == 0, deleted.stderr
        charge_points = httpx.get(f"{embedded.public_url}/twin/charge-point/", headers=headers)
        assert charge_points.json()["count"] == 0

        missing = fleet_cli(embedded, "status", summary["id"], ELU_TOKEN=token)
        assert missing.returncode == 1
        assert "404" in missing.stderr

        refused = fleet_cli(embedded, "run", str(scenario), "--token", "not-a-token")
        assert refused.returncode == 1
        assert "401" in refused.stderr

        scenario.write_text("charge_points: [1, 2")
        broken = fleet_cli(embedded, "run", str(scenario), ELU_TOKEN=token)
        assert broken.returncode == 2
        assert "not valid YAML" in broken.stderr

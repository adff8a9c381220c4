"""`elu-twins up` killed with -9 mid-session, then started again, against a CSMS that
outlives it (the bundled 1.6 CSMS run as its own process): within ELU_RESUME_WINDOW the
session resumes; after it, the twin ends the session towards the CSMS as a power loss.
The CSMS is never left with an open transaction that the twin has closed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.embedded import Embedded, login, run_csms, run_embedded


def _wait(probe: Callable[[], Any], until: Callable[[Any], bool], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if until(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def _charging(embedded: Embedded, csms_url: str) -> dict[str, Any]:
    """A 1.6 twin charging against the CSMS at ``csms_url``: its ids, once metering."""
    headers = login(embedded)
    charge_point = httpx.post(
        f"{embedded.public_url}/twin/charge-point/",
        headers=headers,
        json={
            "name": "cp",
            "csms_url": csms_url.replace("http", "ws"),
            "ocpp_configuration": {"MeterValueSampleInterval": "1"},
        },
    ).json()
    vehicle = httpx.post(
        f"{embedded.public_url}/twin/vehicle/",
        headers=headers,
        json={"name": "car", "battery_capacity": 50, "soc": 20},
    ).json()
    connected = httpx.post(
        f"{embedded.public_url}/twin/charge-point/action/connect-charger",
        headers=headers,
        json={"charge_point_id": charge_point["id"]},
        timeout=40,
    )
    assert connected.status_code == 200, connected.text
    connector_id = charge_point["evses"][0]["connectors"][0]["id"]
    started = httpx.post(
        f"{embedded.public_url}/twin/charge-point/action/start-transaction",
        headers=headers,
        json={"connector_id": connector_id, "vehicle_id": vehicle["id"]},
        timeout=40,
    )
    assert started.status_code == 200, started.text
    csms_transaction = str(started.json()["transactionid"])
    metered = _wait(
        lambda: _csms_transaction(csms_url, csms_transaction),
        lambda seen: len(seen["meter_values"]) >= 2,
    )
    assert len(metered["meter_values"]) >= 2
    return {
        "cid": charge_point["cid"],
        "charge_point_id": charge_point["id"],
        "connector_id": connector_id,
        "vehicle_id": vehicle["id"],
        "transaction_id": started.json()["id"],
        "csms_transaction": csms_transaction,
    }


def _csms_transaction(csms_url: str, transaction_id: str) -> dict[str, Any]:
    return httpx.get(f"{csms_url}/api/transactions/{transaction_id}").json()


def _calls(csms_url: str, cid: str, action: str) -> list[dict[str, Any]]:
    log = httpx.get(f"{csms_url}/api/charge-points/{cid}/messages", params={"limit": 1000})
    return [
        message
        for message in log.json()["data"]
        if message["direction"] == "received"
        and message["message_type"] == "CALL"
        and message["action"] == action
    ]


def _registers(transaction: dict[str, Any]) -> list[float]:
    return [
        float(sampled["value"])
        for meter_value in transaction["meter_values"]
        for sampled in meter_value["sampled_value"]
        if sampled.get("measurand", "Energy.Active.Import.Register")
        == "Energy.Active.Import.Register"
    ]


def test_a_restart_within_the_resume_window_resumes_the_session(tmp_path: Path) -> None:
    with run_csms("csms-v16", tmp_path / "csms") as csms_url:
        with run_embedded(tmp_path) as embedded:
            session = _charging(embedded, csms_url)
            embedded.process.kill()
            embedded.process.wait(10)
        before = _csms_transaction(csms_url, session["csms_transaction"])

        with run_embedded(tmp_path, ports=embedded.ports) as embedded:
            headers = login(embedded)
            after = _wait(
                lambda: _csms_transaction(csms_url, session["csms_transaction"]),
                lambda seen: len(seen["meter_values"]) > len(before["meter_values"]) + 1,
            )
            assert after["status"] == "active"
            assert len(_calls(csms_url, session["cid"], "StartTransaction")) == 1
            registers = _registers(after)
            assert registers == sorted(registers), registers
            assert registers[-1] > _registers(before)[-1]
            transaction = httpx.get(
                f"{embedded.public_url}/operations/charge_point/transaction/"
                f"{session['transaction_id']}",
                headers=headers,
            ).json()
            assert (transaction["status"], transaction["end_time"]) == ("Charging", None)
            car = httpx.get(
                f"{embedded.public_url}/twin/vehicle/{session['vehicle_id']}", headers=headers
            ).json()
            assert car["connector_id"] == session["connector_id"]


def test_a_restart_after_the_window_ends_the_session_with_power_loss(tmp_path: Path) -> None:
    window = {"ELU_RESUME_WINDOW": "3"}
    with run_csms("csms-v16", tmp_path / "csms") as csms_url:
        with run_embedded(tmp_path, settings=window) as embedded:
            session = _charging(embedded, csms_url)
            killed_at = datetime.now().astimezone()
            embedded.process.kill()
            embedded.process.wait(10)
        time.sleep(4)

        with run_embedded(tmp_path, ports=embedded.ports, settings=window) as embedded:
            headers = login(embedded)
            ended = _wait(
                lambda: _csms_transaction(csms_url, session["csms_transaction"]),
                lambda seen: seen["status"] == "ended",
            )
            assert ended["status"] == "ended", ended
            assert ended["stop_reason"] == "PowerLoss"
            stopped_at = datetime.fromisoformat(ended["stopped_at"].replace("Z", "+00:00"))
            assert stopped_at <= killed_at, "the stop is dated when the twin was last alive"
            assert (killed_at - stopped_at).total_seconds() < 20
            # meterStop is whole Wh: it may round the last (decimal) register down, never less
            assert ended["meter_stop"] >= math.floor(_registers(ended)[-1])

            transaction = _wait(
                lambda: httpx.get(
                    f"{embedded.public_url}/operations/charge_point/transaction/"
                    f"{session['transaction_id']}",
                    headers=headers,
                ).json(),
                lambda seen: seen["status"] == "Ended",
            )
            assert transaction["stop_reason"] == "PowerLoss"
            end_time = datetime.fromisoformat(transaction["end_time"].replace("Z", "+00:00"))
            assert end_time <= killed_at

            # The meter does not go back to zero: the next session starts where it stood.
            connector = httpx.get(
                f"{embedded.public_url}/twin/charge-point/connector/{session['connector_id']}",
                headers=headers,
            ).json()
            again = httpx.post(
                f"{embedded.public_url}/twin/charge-point/action/start-transaction",
                headers=headers,
                json={"connector_id": session["connector_id"], "vehicle_id": session["vehicle_id"]},
                timeout=40,
            )
            assert again.status_code == 200, again.text
            assert again.json()["meter_start"] == round(connector["total_energy"] * 1000)
            assert again.json()["meter_start"] >= ended["meter_stop"]


def test_after_a_restart_the_connectors_read_as_the_csms_heard_them(tmp_path: Path) -> None:
    """Stopped while connected and idle: after the restart the twin reconnects and every EVSE
    and connector reads Available again (the restart marked them Unavailable meanwhile)."""
    with run_csms("csms-v16", tmp_path / "csms") as csms_url:
        with run_embedded(tmp_path) as embedded:
            headers = login(embedded)
            charge_point = httpx.post(
                f"{embedded.public_url}/twin/charge-point/",
                headers=headers,
                json={
                    "name": "cp",
                    "csms_url": csms_url.replace("http", "ws"),
                    "evses": [{"connectors": [{}, {"connector_type": "cCCS2"}]}, {}],
                },
            ).json()
            connected = httpx.post(
                f"{embedded.public_url}/twin/charge-point/action/connect-charger",
                headers=headers,
                json={"charge_point_id": charge_point["id"]},
                timeout=40,
            )
            assert connected.status_code == 200, connected.text
            embedded.process.terminate()
            embedded.process.wait(10)
        boots = len(_calls(csms_url, charge_point["cid"], "BootNotification"))

        with run_embedded(tmp_path, ports=embedded.ports) as embedded:
            headers = login(embedded)

            def read() -> dict[str, Any]:
                return httpx.get(
                    f"{embedded.public_url}/twin/charge-point/{charge_point['id']}",
                    headers=headers,
                ).json()

            # Connected again: the StatusNotifications after the reconnect have gone out.
            _wait(
                lambda: len(_calls(csms_url, charge_point["cid"], "StatusNotification")),
                lambda sent: sent >= 8,  # 4 (connector 0 and 3 connectors) per connection
            )
            seen = _wait(
                read,
                lambda seen: (
                    seen["connected"]
                    and all(
                        c["status"] == "Available" for e in seen["evses"] for c in e["connectors"]
                    )
                ),
                timeout=10,
            )
            assert seen["connected"] is True
            statuses = [
                status
                for evse in seen["evses"]
                for status in [evse["status"], *(c["status"] for c in evse["connectors"])]
            ]
            assert statuses == ["Available"] * 5
            assert len(_calls(csms_url, charge_point["cid"], "BootNotification")) >= boots

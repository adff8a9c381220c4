"""The fleet benchmark's harness (benchmarks/fleet.py) in its short mode: 5 twins of the mix.

It checks that the harness starts the host and the counting CSMS, creates and charges
the fleet through the API, measures, writes every field and stops everything; not
its timings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.harness import run_benchmark


@pytest.mark.parametrize(
    ("bulk", "message_log"),
    [(False, "on"), (True, "off")],
    ids=["one-request-per-twin", "bulk-message-log-off"],
)
def test_fleet_benchmark_short_mode(tmp_path: Path, bulk: bool, message_log: str) -> None:
    name = "fleet-mix-5" if message_log == "on" else "fleet-mix-5-message-log-off"
    result = run_benchmark(
        "fleet.py",
        *("--twins", "5", "--protocol", "mix", "--duration", "14", "--settle", "1"),
        *("--reads", "20", "--message-log", message_log, *(["--bulk"] if bulk else [])),
        results=tmp_path,
        result=f"{name}.json",
    )

    assert result["twins"] == 5
    assert result["bulk_start"] is bulk
    assert result["message_log"] is (message_log == "on")
    if message_log == "on":
        assert result["frames_logged_by_one_twin"] > 0
    else:
        assert result["frames_logged_by_one_twin"] == 0
    assert result["twins_connected"] == 5
    assert result["twins_charging"] == 5
    assert result["api"]["failures"] == {}
    assert result["csms_errors_received"] == 0
    # 1.6 twins send MeterValues, 2.0.1 twins TransactionEvent Updated, every 10 s
    assert result["messages_by_action"]["MeterValues"] >= 2
    assert result["messages_by_action"]["TransactionEvent"] >= 2
    assert result["messages"] == sum(result["messages_by_action"].values())
    assert result["messages_per_second"] > 0
    for process in ("host", "csms"):
        cost = result[process]
        assert cost["cpu_seconds"] >= 0
        assert cost["cpu_seconds_per_1000_messages"] is not None
        assert cost["rss_mb_end"] > 0
    assert result["host"]["cpu_seconds"] > 0
    assert result["host"]["rss_mb_no_twins"] > 0
    assert {"main_thread", "other_threads"} <= set(result["host"]["cpu_by_thread"])
    # the probe reports the host's collections (maybe none in a short window)
    collections = result["host"]["gc"]
    assert set(collections) == {"by_generation", "pauses"}
    for generation, total in collections["by_generation"].items():
        assert generation in {"0", "1", "2"} and total["count"] > 0 and total["ms"] >= 0
    meter = result["lateness"]["meter"]
    assert meter["count"] >= 4
    assert 0 <= meter["p50_ms"] <= meter["p99_ms"] <= meter["max_ms"] < 10_000
    assert {"meter_interval", "heartbeat"} <= set(result["lateness"])
    assert result["connect_and_start_seconds"] > 0
    for latency in ("connect_charger_latency", "start_transaction_latency"):
        if bulk:  # one request for all: no latency per twin
            assert result["api"][latency] == {"count": 0}
        else:
            assert result["api"][latency]["count"] == 5
            assert 0 < result["api"][latency]["p50_ms"] <= result["api"][latency]["p99_ms"]
    for read in ("get_charge_point", "get_vehicle"):
        assert result["api"][read]["count"] == 20
        assert result["api"][read]["requests_per_second"] > 0
    assert result["host_exit_code"] == 0
    table = (tmp_path / "fleet.md").read_text().splitlines()
    assert table[0].startswith("| protocol | twins | database | message log |")
    assert table[-1].startswith(f"| mix | 5 | sqlite | {message_log} | 5 |")

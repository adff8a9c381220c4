"""The fleet start benchmark (benchmarks/fleet_start.py) in a short mode: 6 twins, 3 samples.

It checks that the harness starts the host and the counting CSMS, creates, connects and
starts the fleet through the bulk actions, times the single starts and the reads, writes
every field and stops everything; not its timings.
"""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.harness import run_benchmark


def test_fleet_start_benchmark_short_mode(tmp_path: Path) -> None:
    result = run_benchmark(
        "fleet_start.py",
        *("--twins", "6", "--samples", "3", "--reads", "10", "--read-seconds", "1"),
        *("--rate", "50", "--label", "short"),
        results=tmp_path,
        result="fleet_start-6-short.json",
        timeout=180,
    )

    assert (result["twins"], result["samples"], result["rate"]) == (6, 3, 50)
    assert result["connected"] == 9  # the fleet and the idle twins the single starts use
    assert result["charging"] == 6
    assert result["connect_failures"] == {} and result["start_failures"] == {}
    # what the CSMS saw: every twin booted and stayed connected, the fleet started
    assert result["csms_boots"] == 9
    assert result["csms_connected"] == 9
    assert result["csms_start_transactions"] == 6
    for phase in ("create", "connect", "start", "connect_and_start"):
        assert result[f"{phase}_seconds"] > 0
    assert result["create_connect_and_start_seconds"] >= result["connect_and_start_seconds"]
    latency = result["start_transaction_latency"]
    assert latency["count"] == 3 and latency["errors"] == {}
    assert 0 < latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    for read in ("get_charge_point", "get_vehicle"):
        assert result["sequential_reads"][read]["count"] == 10
        assert result["concurrent_reads"][read]["count"] > 0
        assert result["concurrent_reads"][read]["requests_per_second"] > 0
    assert result["host_exit_code"] == 0

"""The CSMS throughput harness (benchmarks/csms_throughput.py) in its short mode.

It checks that the harness starts each bundled CSMS and the load generator in their own
processes, that every connection boots and sends the session mix, and that the JSON and the
Markdown row carry every field; not its timings.
"""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.harness import run_benchmark


def test_csms_throughput_short_mode(tmp_path: Path) -> None:
    result = run_benchmark(
        "csms_throughput.py",
        *("--protocol", "both", "--connections", "4", "--in-flight", "2"),
        *("--warmup", "0.5", "--duration", "1.5", "--label", "short"),
        results=tmp_path,
        result="csms_throughput-both-short.json",
    )

    assert result["label"] == "short"
    assert result["server"] == "elu-twins"
    assert result["machine"]["cores"] >= 1
    assert [run["protocol"] for run in result["runs"]] == ["ocpp1.6", "ocpp2.0.1"]
    meter_action = {"ocpp1.6": "MeterValues", "ocpp2.0.1": "TransactionEvent"}
    for measured in result["runs"]:
        assert measured["connections"] == 4
        assert measured["in_flight"] == 2
        assert measured["call_errors"] == 0, measured["call_error_samples"]
        assert measured["messages"] == sum(measured["messages_by_action"].values()) > 0
        assert {meter_action[measured["protocol"]], "Heartbeat", "StatusNotification"} <= set(
            measured["messages_by_action"]
        )
        assert measured["messages_per_second"] > 0
        latency = measured["answer_latency"]
        assert latency["count"] > 0
        assert 0 <= latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]
        csms = measured["csms"]
        assert csms["cpu_seconds"] > 0
        assert csms["cpu_seconds_per_1000_messages"] > 0
        assert csms["messages_per_cpu_second"] > 0
        assert csms["rss_mb_end"] > 0
        assert measured["generator"]["cpu_seconds"] > 0
        assert measured["generator"]["exit_code"] == 0
    table = (tmp_path / "csms_throughput.md").read_text().splitlines()
    assert table[0].startswith("| at (UTC) | label | protocol |")
    assert table[-2].split(" | ")[1:4] == ["short", "ocpp1.6", "4"]
    assert table[-1].split(" | ")[1:4] == ["short", "ocpp2.0.1", "4"]

"""The event writer benchmark (benchmarks/writer.py) in a short mode: 20 twins, SQLite.

It checks that the harness sets the database up, feeds the writer and counts the
messages the twins' events stand for; not its timings.
"""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.harness import run_benchmark


def test_writer_benchmark_short_mode(tmp_path: Path) -> None:
    result = run_benchmark(
        "writer.py",
        *("--twins", "20", "--seconds", "60", "--warmup", "10", "--speed", "10"),
        *("--label", "short"),
        results=tmp_path,
        result="writer-sqlite-20-short.json",
        timeout=180,
    )

    assert (result["twins"], result["database"], result["speed"]) == (20, "sqlite", 10.0)
    # a MeterValues every 10 s and a Heartbeat every 60 s per twin, in 60 s
    assert result["messages"] == 20 * 6 + 20
    assert result["cpu_seconds"] > 0
    assert result["cpu_s_per_1000_messages"] > 0

"""The reads benchmark (benchmarks/api_reads.py) in a short mode: 20 GETs of each kind.

It checks that the harness creates what it reads, reads it through the app and reports
the CPU and the SQL of each kind of read; not its timings.
"""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.harness import run_benchmark


def test_api_reads_benchmark_short_mode(tmp_path: Path) -> None:
    result = run_benchmark(
        "api_reads.py",
        *("--requests", "20", "--label", "short"),
        results=tmp_path,
        result="api_reads-short.json",
    )

    assert result["database"] == "sqlite"
    for read in ("get_charge_point", "get_vehicle"):
        measured = result[read]
        assert measured["requests"] > 0
        assert measured["cpu_ms_per_request"] > 0
        assert measured["requests_per_second"] > 0
        assert measured["statements_per_request"] == len(measured["statements"]) > 0
        assert all(statement.startswith("SELECT") for statement in measured["statements"])

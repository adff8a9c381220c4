"""The event writer benchmark (benchmarks/writer.py) in a short mode: 20 twins, SQLite.

It checks that the harness sets the database up, feeds the writer and counts the
messages the twins' events stand for; not its timings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_writer_benchmark_short_mode(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "benchmarks" / "writer.py"), "--twins", "20"]
    command += ["--seconds", "60", "--warmup", "10", "--speed", "10"]
    run = subprocess.run(
        [*command, "--results", str(tmp_path), "--label", "short"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    result = json.loads((tmp_path / "writer-sqlite-20-short.json").read_text())

    assert (result["twins"], result["database"], result["speed"]) == (20, "sqlite", 10.0)
    # a MeterValues every 10 s and a Heartbeat every 60 s per twin, in 60 s
    assert result["messages"] == 20 * 6 + 20
    assert result["cpu_seconds"] > 0
    assert result["cpu_s_per_1000_messages"] > 0

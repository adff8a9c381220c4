"""What every benchmark harness test does: run a script of benchmarks/ in its short mode
and read what it wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]


def run_script(script: str, *arguments: str, timeout: float = 120) -> str:
    """Run ``benchmarks/<script>``; fail the test with its output when it exits non-zero,
    else answer what it printed."""
    finished = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-4000:]
    return finished.stdout


def run_benchmark(
    script: str, *arguments: str, results: Path, result: str, timeout: float = 120
) -> dict[str, Any]:
    """Run ``benchmarks/<script>`` writing into ``results``; answer the result file
    ``result`` it wrote there."""
    run_script(script, *arguments, "--results", str(results), timeout=timeout)
    return json.loads((results / result).read_text())

"""The fleet benchmark's garbage collection probe (benchmarks/gc_probe/sitecustomize.py):
a process started with it on its PYTHONPATH logs each collection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.benchmarks.harness import ROOT


def test_probe_logs_each_collection(tmp_path: Path) -> None:
    log = tmp_path / "gc.log"
    env = os.environ | {
        "PYTHONPATH": str(ROOT / "benchmarks" / "gc_probe"),
        "ELU_BENCH_GC_LOG": str(log),
    }
    script = "import gc; gc.collect(0); gc.collect(2)"
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)

    lines = [line.split() for line in log.read_text().splitlines()]
    # the two asked for, and whatever the interpreter collects on its own (at exit, say)
    assert {"0", "2"} <= {generation for _, generation, _, _ in lines}
    assert all(float(ms) >= 0 and int(collected) >= 0 for _, _, ms, collected in lines)


def test_probe_is_silent_without_a_log(tmp_path: Path) -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT / "benchmarks" / "gc_probe")}
    env.pop("ELU_BENCH_GC_LOG", None)
    script = "import gc; gc.collect(); assert gc.callbacks == []"
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60, cwd=tmp_path)

"""Loaded by the host process that benchmarks/fleet.py starts (this folder is put first on
its PYTHONPATH): with ``ELU_BENCH_GC_LOG`` set, every garbage collection of the process
is appended to that file as ``unix-time generation milliseconds collected``.

The collector's cost grows with the twins' memory, and a collection holds the twins'
loop: this is how the fleet benchmark sees both, without code of the product's own."""

from __future__ import annotations

import gc
import os
import time

_LOG = os.environ.get("ELU_BENCH_GC_LOG")
_started = 0.0


def _phase(phase: str, info: dict[str, int]) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
        return
    took_ms = (time.perf_counter() - _started) * 1000
    with open(_LOG, "a") as log:  # type: ignore[arg-type]
        log.write(f"{time.time():.3f} {info['generation']} {took_ms:.2f} {info['collected']}\n")


if _LOG:
    gc.callbacks.append(_phase)

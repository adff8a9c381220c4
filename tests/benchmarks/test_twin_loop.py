"""The bare twins' benchmark (benchmarks/twin_loop.py) in a short mode: 3 twins, 2 s.

It checks that the twins charge against the counting CSMS and that the CPU and the
Python calls per meter message are reported; not their values.
"""

from __future__ import annotations

import re

from tests.benchmarks.harness import run_script


def test_twin_loop_benchmark_short_mode() -> None:
    for protocol in ("ocpp1.6", "ocpp2.0.1"):
        printed = run_script(
            "twin_loop.py",
            *("--protocol", protocol, "--twins", "3", "--seconds", "2", "--profile"),
            *("--top", "3"),
        )

        cost = re.search(rf"{protocol}, 3 twins every 1 s, 2 s: (\d+) µs of CPU", printed)
        assert cost is not None, printed
        assert int(cost.group(1)) > 0
        calls = re.search(r"(\d+) Python function calls per meter message", printed)
        assert calls is not None, printed
        assert int(calls.group(1)) > 0

"""A process that hosts thousands of twins needs a socket each: it raises its own limit,
and a twin that finds no file left says what to do."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

resource = pytest.importorskip("resource")

from shared.open_files import raise_open_files_limit  # noqa: E402


def test_the_soft_limit_is_raised_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("the hard limit is unlimited here: nothing to compare with")
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
    try:
        assert raise_open_files_limit() == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc")
def test_a_twin_out_of_files_says_how_to_get_more() -> None:
    """In a process of its own, whose open-files limit is what it has open already."""
    script = textwrap.dedent(
        """
        import asyncio, os, resource
        from tests.twin.scripted_csms import EventLog, make_config
        from worker.twin.charge_point import ChargePointTwin
        from worker.twin.clock import SystemClock
        from worker.twin.errors import NotConnected

        async def main():
            twin = ChargePointTwin(make_config("ws://127.0.0.1:9"), SystemClock(600), EventLog())
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            in_use = len(os.listdir("/proc/self/fd")) - 1  # less the listing's own
            resource.setrlimit(resource.RLIMIT_NOFILE, (in_use, hard))
            await twin.start()
            try:
                await twin.connected(timeout=0.5)
            except NotConnected as error:
                print(error)
            await twin.close()

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert "cannot reach CSMS at ws://127.0.0.1:9/CP1" in done.stdout, done.stderr
    assert "as many files open as it may" in done.stdout
    assert "ulimit -Hn" in done.stdout

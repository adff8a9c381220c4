"""benchmarks/profile_shares.py on a small py-spy file: idle waits are dropped and the
rest is shared out by thread, category and function."""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.harness import run_script

STACKS = """\
thread (1): MainThread;run (asyncio/base_events.py:600);_meter (worker/twin/metering.py:250) 6
thread (1): MainThread;run (asyncio/base_events.py:600);EpollSelector.select (selectors.py:468) 50
thread (2): asyncio_0;_worker (concurrent/futures/thread.py:83);_write (worker/persistence.py:509) 3
thread (2): asyncio_0;_worker (concurrent/futures/thread.py:83) 40
thread (2): asyncio_0;_worker (concurrent/futures/thread.py:83);_write (worker/persistence.py:509);\
DefaultDialect.do_executemany (sqlalchemy/engine/default.py:940) 1
"""


def test_shares_of_busy_samples(tmp_path: Path) -> None:
    stacks = tmp_path / "stacks.txt"
    stacks.write_text(STACKS)

    printed = run_script("profile_shares.py", str(stacks), "--top", "5")

    assert "100 samples, 10 busy (90 idle waits dropped)" in printed
    assert "| MainThread | 60.0% |" in printed
    assert "| asyncio_* | 40.0% |" in printed
    assert "| persistence (worker/persistence.py) | 40.0% | 30.0% |" in printed
    assert "| database driver (C), leaf in execute / commit |  | 10.0% |" in printed
    assert "| `_meter (worker/twin/metering.py)` | 60.0% |" in printed

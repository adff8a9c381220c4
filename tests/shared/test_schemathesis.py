"""Schemathesis, with every check, against both APIs of a running `elu-twins up`: each
operation answers what its OpenAPI says, refuses what the schema refuses, accepts what it
accepts, and never answers 500.

Bounded and reproducible: a fixed number of examples per operation, a fixed seed, no
example database, one worker. The public API is tested as a real user with a bearer
token (so it reaches past 401), then the private API with the operator key (it may
deactivate or delete that user, hence second). tests/schemathesis_hooks.py says which
generated inputs are left out and why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import fresh_postgres_database
from tests.embedded import Embedded, login, run_embedded

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_PER_OPERATION = 8
SEED = 20261126
HOOKS = "tests.schemathesis_hooks"


def schemathesis(url: str, header: str, report: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{url}/openapi.json",
            "--header",
            header,
            "--checks",
            "all",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--seed",
            str(SEED),
            "--generation-database",
            "none",
            "--workers",
            "1",
            "--request-timeout",
            "60",
            # One exclusion (two would have to match both): the live event streams answer
            # forever, tests/public_api/routes/test_events.py tests them; stopping (and
            # deleting) a fleet waits, up to ?timeout=, for its connects in flight and its
            # twins' sessions to end, beyond the 10 s response time check,
            # tests/public_api/routes/test_fleets.py tests both.
            "--exclude-name-regex",
            r"(/events|^POST /twin/fleet/\{id\}/stop|^DELETE /twin/fleet/\{id\})$",
            "--no-color",
            "--report",
            "junit",
            "--report-junit-path",
            str(report),
        ],
        cwd=report.parent,
        env=os.environ | {"SCHEMATHESIS_HOOKS": HOOKS, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def running(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Embedded]:
    if request.param == "sqlite":
        with run_embedded(tmp_path, timeout=60) as embedded:
            yield embedded
        return
    with (
        fresh_postgres_database() as url,
        run_embedded(tmp_path, timeout=60, settings={"ELU_DATABASE_URL": url}) as embedded,
    ):
        yield embedded


def test_schemathesis_finds_nothing_in_either_api(running: Embedded, tmp_path: Path) -> None:
    headers = login(running)
    assert httpx.get(f"{running.public_url}/user/me", headers=headers).status_code == 200

    public = schemathesis(
        running.public_url, f"Authorization: {headers['Authorization']}", tmp_path / "public.xml"
    )
    assert public.returncode == 0, public.stdout[-20000:] + public.stderr[-5000:]
    assert httpx.get(f"{running.public_url}/user/me", headers=headers).status_code == 200, (
        "the public API run lost its user: it did not reach past 401"
    )

    private = schemathesis(
        running.private_url, f"X-Operator-Key: {running.operator_key}", tmp_path / "private.xml"
    )
    assert private.returncode == 0, private.stdout[-20000:] + private.stderr[-5000:]

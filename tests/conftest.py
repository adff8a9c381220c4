"""Fixtures for real databases and the two APIs.

Postgres is the local server (ELU_TEST_POSTGRES_URL, default the local one with
trust auth); each test run gets a fresh database that is dropped at the end.
Without a reachable server the Postgres tests skip with what to start, unless
ELU_REQUIRE_SERVICES=1 (CI), which makes that a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from private_api.app import create_app as create_private_app
from public_api.app import create_app as create_public_app
from shared.db import make_engine
from shared.migrate import upgrade
from shared.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get(
    "ELU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVICES = os.environ.get("ELU_REQUIRE_SERVICES") == "1"
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def service_missing(message: str) -> None:
    """Skip (locally) or fail (CI) a test that needs a service that is not there."""
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as error:
        service_missing(
            f"Postgres is not reachable at {POSTGRES_ADMIN_URL} ({type(error).__name__}); "
            f"start it (e.g. `{START_POSTGRES}`) or set ELU_TEST_POSTGRES_URL"
        )
    name = f"elu_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "elu.sqlite3"
    return f"sqlite:///{path}"


_engines: dict[str, Engine] = {}


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated database: every test using it runs once on SQLite and once on Postgres."""
    url = request.getfixturevalue(f"{request.param}_url")
    if url not in _engines:
        upgrade(url)
        _engines[url] = make_engine(url)
    return url


@pytest.fixture
def engine(database_url: str) -> Engine:
    return _engines[database_url]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
        operator_key="test-operator-key",
    )


@pytest.fixture
def public_client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_public_app(settings, engine)) as client:
        yield client


@pytest.fixture
def private_client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(
        create_private_app(settings, engine),
        headers={"X-Operator-Key": settings.operator_key or ""},
    ) as client:
        yield client


@pytest.fixture
async def stack(settings: Settings, engine: Engine):  # type: ignore[no-untyped-def]
    from tests.stack import running_stack

    async with running_stack(settings, engine) as running:
        yield running

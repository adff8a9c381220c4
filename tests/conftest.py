"""Fixtures for real databases, Redis, Celery workers and the two APIs.

Postgres is the local server (ELU_TEST_POSTGRES_URL, default the local one with
trust auth); each test run gets fresh databases that are dropped at the end.
Redis is ELU_TEST_REDIS_URL (default the local one). Without a reachable server
the tests that need it skip with what to start, unless ELU_REQUIRE_SERVICES=1
(CI), which makes that a failure.

The ``stack`` fixture runs a test three times: embedded on SQLite, embedded on
Postgres, and distributed (Celery worker processes, Redis, Postgres).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from private_api.app import create_app as create_private_app
from public_api.app import create_app as create_public_app
from shared.db import make_engine
from shared.migrate import upgrade
from shared.settings import Settings
from tests.cluster import Cluster, running_cluster

POSTGRES_ADMIN_URL = os.environ.get(
    "ELU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ELU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("ELU_REQUIRE_SERVICES") == "1"
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_REDIS = "redis-server --daemonize yes"


def service_missing(message: str) -> None:
    """Skip (locally) or fail (CI) a test that needs a service that is not there."""
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
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
def postgres_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        service_missing(
            f"Redis is not reachable at {REDIS_URL} ({error}); "
            f"start it (e.g. `{START_REDIS}`) or set ELU_TEST_REDIS_URL"
        )
    return REDIS_URL


ClusterFactory = Callable[..., AbstractContextManager[Cluster]]


@pytest.fixture(scope="session")
def new_cluster(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> ClusterFactory:
    """Starts Celery workers hosting twins, on a Postgres database of their own (so that no
    other test's twins are theirs to adopt): ``with new_cluster(3, lease_seconds=6) as c``."""

    @contextmanager
    def start(workers: int = 2, **settings: object) -> Iterator[Cluster]:
        with fresh_postgres_database() as url:
            upgrade(url)
            folder = tmp_path_factory.mktemp("cluster")
            with running_cluster(url, redis_url, folder, workers, **settings) as running:
                yield running

    return start


@pytest.fixture(scope="session")
def cluster(new_cluster: ClusterFactory) -> Iterator[Cluster]:
    """Two workers for the whole run, shared by the distributed variant of the stack tests."""
    with new_cluster(2) as running:
        yield running


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


@pytest.fixture(params=["embedded", "distributed"])
async def stack(request: pytest.FixtureRequest, settings: Settings, engine: Engine):  # type: ignore[no-untyped-def]
    from tests.stack import running_distributed_stack, running_stack

    if request.param == "distributed":
        async with running_distributed_stack(request.getfixturevalue("cluster")) as running:
            yield running
        return
    async with running_stack(settings, engine) as running:
        yield running


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Distributed mode runs on Postgres only: drop its SQLite variant of each stack test."""
    kept, dropped = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        params = params.params if params is not None else {}
        if params.get("stack") == "distributed" and params.get("database_url") == "sqlite":
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept

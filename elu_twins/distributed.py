"""Distributed mode: the services as separate processes over Postgres and Redis.

``elu-twins up --distributed --workers N`` is the no-Docker way to run it on one
machine: it applies the migrations, then starts and watches the public API, the
private API, N Celery workers hosting twins, Flower and the two test CSMSs, each
its own OS process (the same commands docker-compose runs), and stops them all
on Ctrl+C / SIGTERM (workers drain first: they save their twins' state).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine, make_url, text

from shared.db import make_engine
from shared.migrate import upgrade
from shared.settings import Settings

if TYPE_CHECKING:
    from worker.commands import CommandBus

#: Where `up --distributed` finds Postgres when ELU_DATABASE_URL is not set.
LOCAL_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/elu_twins"
#: Seconds the children get to stop (workers drain) before they are killed.
STOP_TIMEOUT = 40.0


def _engine_and_bus(settings: Settings) -> tuple[Engine, CommandBus]:
    from worker.celery_app import create_celery
    from worker.redis_bus import RedisBus

    assert settings.database_url is not None
    engine = make_engine(settings.database_url)
    bus = RedisBus(engine, redis.Redis.from_url(settings.redis_url), create_celery(settings))
    return engine, bus


def create_public_app(settings: Settings) -> FastAPI:
    """The public API whose commands reach the Celery workers, and whose live events come
    from them, through Redis."""
    from public_api.app import create_app
    from worker.redis_events import RedisEventSource

    return create_app(settings, *_engine_and_bus(settings), RedisEventSource(settings.redis_url))


def create_private_app(settings: Settings) -> FastAPI:
    """The private API, which reaches the Celery workers to stop a deleted user's twins."""
    from private_api.app import create_app

    return create_app(settings, *_engine_and_bus(settings))


def distributed_settings(settings: Settings) -> Settings:
    """Settings for the children: the embedded defaults' generated secrets (kept in the
    data folder), the local Postgres unless told otherwise, distributed mode."""
    database_url = os.environ.get("ELU_DATABASE_URL", LOCAL_DATABASE_URL)
    return settings.model_copy(update={"mode": "distributed", "database_url": database_url})


def child_environment(settings: Settings) -> dict[str, str]:
    """This environment with every setting spelled out, so that each child process runs
    with exactly these settings (and the generated secrets) in distributed mode."""
    assert settings.database_url and settings.secret_key and settings.operator_key
    spelled_out = {
        f"ELU_{name.upper()}": str(value)
        for name, value in settings.model_dump(mode="json").items()
        if value is not None and name != "worker_name"
    }
    return os.environ | spelled_out | {"ELU_MODE": "distributed"}


def check_services(settings: Settings) -> None:
    """Fail with what to start when Postgres or Redis is not there; create the database
    on a local server that does not have it yet."""
    assert settings.database_url is not None
    url = make_url(settings.database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            )
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{url.database}"'))
    except Exception as error:
        raise SystemExit(
            f"Postgres is not reachable at {url.render_as_string(hide_password=True)} "
            f"({type(error).__name__}): start it or set ELU_DATABASE_URL"
        ) from error
    finally:
        admin.dispose()
    try:
        redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        raise SystemExit(
            f"Redis is not reachable at {settings.redis_url} ({error}): "
            "start it or set ELU_REDIS_URL"
        ) from error


@dataclass
class Child:
    label: str
    url: str
    process: subprocess.Popen[bytes]


def services(settings: Settings, workers: int) -> list[tuple[str, str, list[str]]]:
    """(label, URL, `elu-twins` arguments) of every process to start."""
    host = settings.host
    listed = [
        ("public API", f"http://{host}:{settings.public_api_port}/docs", ["public-api"]),
        ("private API", f"http://{host}:{settings.private_api_port}/docs", ["private-api"]),
        ("Flower", f"http://{host}:{settings.flower_port}", ["flower"]),
        (
            "OCPP 1.6 CSMS",
            f"ws://{host}:{settings.csms_v16_port}/<cid>",
            ["csms-v16", "--host", host],
        ),
        (
            "OCPP 2.0.1/2.1 CSMS",
            f"ws://{host}:{settings.csms_v201_port}/<cid>",
            ["csms-v201", "--host", host],
        ),
    ]
    for number in range(1, workers + 1):
        name = f"worker{number}-{os.getpid()}"
        listed.append((f"worker {number}", f"queue host.{name}", ["worker", "--name", name]))
    return listed


def run_distributed(settings: Settings, workers: int) -> None:
    settings = distributed_settings(settings)
    check_services(settings)
    assert settings.database_url is not None
    upgrade(settings.database_url)
    environment = child_environment(settings)
    children = [
        Child(
            label,
            url,
            subprocess.Popen(
                [sys.executable, "-m", "elu_twins", *arguments],
                env=environment | {"ELU_LOG_LABEL": label},
            ),
        )
        for label, url, arguments in services(settings, workers)
    ]
    print(banner(settings, children), flush=True)
    stopping = False

    def stop(_signal: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            for child in children:
                if child.process.poll() is not None and child.label != "exited":
                    print(
                        f"{child.label} (pid {child.process.pid}) exited with "
                        f"{child.process.returncode}",
                        flush=True,
                    )
                    child.label = "exited"
            time.sleep(0.5)
    finally:
        stop_children(children)


def stop_children(children: list[Child]) -> None:
    """SIGTERM every child (workers drain), then kill what is still there."""
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children:
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


def banner(settings: Settings, children: list[Child]) -> str:
    lines = ["ELU Twins is running (distributed mode)."]
    lines += [f"  {child.label:<20}{child.url:<48}pid {child.process.pid}" for child in children]
    assert settings.database_url is not None
    lines += [
        f"  database        {make_url(settings.database_url).render_as_string(True)}",
        f"  redis           {settings.redis_url}",
        f"  operator key    {settings.operator_key}",
        "Stop everything with Ctrl+C.",
    ]
    return "\n".join(lines)

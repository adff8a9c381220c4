"""The `elu-twins` command."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Annotated

import typer

from elu_twins import log_labels
from elu_twins.fleet_cli import fleet_app
from elu_twins.watch_cli import watch
from shared.settings import Settings

app = typer.Typer(help="ELU Twins: virtual OCPP charge points and vehicles.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users from the terminal (operator).", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(fleet_app, name="fleet")
app.command("watch")(watch)


def configure_logging(label: str = "elu-twins") -> None:
    """INFO for ELU Twins; the per-frame logs of the ocpp library and CSMSs only from WARNING.
    Each line says which service logged it: ``label``, or ``ELU_LOG_LABEL`` (which
    `elu-twins up --distributed` gives each process it starts)."""
    logging.basicConfig(level=logging.INFO, format=log_labels.LOG_FORMAT)
    log_labels.SERVICE.set(os.environ.get("ELU_LOG_LABEL") or label)
    log_labels.label_handlers()
    for noisy in ("ocpp", "elu_twins.csms", "websockets", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="interface to listen on")] = None,
    distributed: Annotated[
        bool,
        typer.Option(
            "--distributed",
            help="run each service as its own process over Postgres and Redis "
            "(ELU_DATABASE_URL, ELU_REDIS_URL; default the local servers), twins on "
            "Celery workers",
        ),
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, help="Celery workers hosting twins (with --distributed)")
    ] = 2,
) -> None:
    """Run ELU Twins: by default everything in one process (embedded mode: SQLite, no Redis,
    Postgres or Docker needed)."""
    settings = _settings()
    if host is not None:
        settings.host = host
    configure_logging()
    if distributed:
        from elu_twins.distributed import run_distributed

        run_distributed(settings, workers)
        return
    from elu_twins.embedded import run_embedded

    asyncio.run(run_embedded(settings))


@app.command("public-api")
def public_api(
    port: Annotated[int | None, typer.Option(help="default: ELU_PUBLIC_API_PORT (8000)")] = None,
    host: Annotated[str | None, typer.Option(help="interface to listen on")] = None,
) -> None:
    """Run the public API alone (distributed mode: commands go to the Celery workers)."""
    import uvicorn

    from elu_twins.distributed import create_public_app
    from elu_twins.servers import SHUTDOWN_GRACE

    settings = _settings()
    configure_logging(log_labels.PUBLIC_API)
    uvicorn.run(
        create_public_app(settings),
        host=host or settings.host,
        port=port or settings.public_api_port,
        log_config=None,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,  # open live event streams end
    )


@app.command("private-api")
def private_api(
    port: Annotated[int | None, typer.Option(help="default: ELU_PRIVATE_API_PORT (8800)")] = None,
    host: Annotated[str | None, typer.Option(help="interface to listen on")] = None,
) -> None:
    """Run the private (operator) API alone (distributed mode: it reaches the workers)."""
    import uvicorn

    from elu_twins.distributed import create_private_app

    settings = _settings()
    configure_logging(log_labels.PRIVATE_API)
    uvicorn.run(
        create_private_app(settings),
        host=host or settings.host,
        port=port or settings.private_api_port,
        log_config=None,
    )


@app.command()
def worker(
    name: Annotated[
        str | None,
        typer.Option(help="twin host name (default: ELU_WORKER_NAME, else host name and pid)"),
    ] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO",
) -> None:
    """Run a Celery worker that hosts twins (distributed mode; stop it with SIGTERM to hand
    its twins over to the other workers)."""
    from worker.celery_app import run_worker
    from worker.host import default_host_name

    settings = _settings()
    configure_logging(log_labels.TWIN_HOST)
    run_worker(settings, name or settings.worker_name or default_host_name(), loglevel)


@app.command()
def flower(
    port: Annotated[int | None, typer.Option(help="default: ELU_FLOWER_PORT (5555)")] = None,
    host: Annotated[str | None, typer.Option(help="interface to listen on")] = None,
) -> None:
    """Run Flower, the Celery monitor: the workers and the tasks that place twins and carry
    commands."""
    from worker.celery_app import create_celery

    settings = _settings()
    create_celery(settings).start(
        ["flower", f"--port={port or settings.flower_port}", f"--address={host or settings.host}"]
    )


def _run_csms(version: str, port: int | None, host: str | None) -> None:
    import uvicorn

    from elu_twins.servers import SHUTDOWN_GRACE
    from shared.csms.certificates import CsmsTlsSettings
    from shared.open_files import raise_open_files_limit

    settings = _settings()
    default_port = settings.csms_v16_port if version == "1.6" else settings.csms_v201_port
    factory = "csms_v16.app:create_app" if version == "1.6" else "csms_v201.app:create_app"
    configure_logging(log_labels.CSMS_V16 if version == "1.6" else log_labels.CSMS_V201)
    raise_open_files_limit()  # a socket per charge point
    uvicorn.run(
        factory,
        factory=True,
        host=host or settings.host,
        port=port or default_port,
        log_config=None,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,  # open live event streams end
        **CsmsTlsSettings().uvicorn_options(),  # wss / mutual TLS when ELU_CSMS_TLS_* say so
    )


@app.command("csms-v16")
def csms_v16(
    port: Annotated[int | None, typer.Option(help="default: ELU_CSMS_V16_PORT (9000)")] = None,
    host: Annotated[str | None, typer.Option(help="interface to listen on")] = None,
) -> None:
    """Run the bundled OCPP 1.6 test CSMS on its own (ws://host:9000/<cid>, API at /docs)."""
    _run_csms("1.6", port, host)


@app.command("csms-v201")
def csms_v201(
    port: Annotated[int | None, typer.Option(help="default: ELU_CSMS_V201_PORT (9201)")] = None,
    host: Annotated[str | None, typer.Option(help="interface to listen on")] = None,
) -> None:
    """Run the bundled OCPP 2.0.1 and 2.1 test CSMS alone (ws://host:9201/<cid>, API at /docs)."""
    _run_csms("2.0.1", port, host)


@app.command()
def migrate() -> None:
    """Apply the database migrations (alembic upgrade head) to ELU_DATABASE_URL."""
    from shared.migrate import upgrade

    settings = _settings()
    assert settings.database_url is not None
    upgrade(settings.database_url)
    typer.echo("database is up to date")


@user_app.command("create")
def create_user(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Create a user directly in the database."""
    from shared.crud.users import create_user as create
    from shared.db import make_engine, session_for
    from shared.errors import DomainError
    from shared.migrate import upgrade
    from shared.schemas.user import UserCreate

    settings = _settings()
    assert settings.database_url is not None
    upgrade(settings.database_url)
    try:
        body = UserCreate(username=username, password=password)
        with session_for(make_engine(settings.database_url)) as session:
            user = create(session, body, settings)
    except (ValueError, DomainError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"created user {user.username} ({user.id})")

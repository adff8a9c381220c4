"""The `elu-twins` command."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from shared.settings import Settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

app = typer.Typer(help="ELU Twins: virtual OCPP charge points and vehicles.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users from the terminal (operator).", no_args_is_help=True)
app.add_typer(user_app, name="user")


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="interface to listen on")] = None,
) -> None:
    """Run everything in one process (embedded mode: SQLite, no Redis or Docker needed)."""
    from elu_twins.embedded import run_embedded

    settings = _settings()
    if host is not None:
        settings.host = host
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    asyncio.run(run_embedded(settings))


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

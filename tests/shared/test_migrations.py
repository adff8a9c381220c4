"""The migrations build exactly the schema the models describe, on SQLite and Postgres."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from shared.db import make_engine
from shared.migrate import alembic_config
from shared.models import Base


def test_upgrade_head_creates_every_table_and_check_finds_no_drift(database_url: str) -> None:
    engine = make_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert set(Base.metadata.tables) <= tables
    command.check(alembic_config(database_url))  # raises when models and migrations differ


def test_downgrade_to_base_and_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}"
    config = alembic_config(url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
    command.upgrade(config, "head")

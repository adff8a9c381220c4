"""The migrations build exactly the schema the models describe, on SQLite and Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import column, inspect, table, text

from shared.db import make_engine
from shared.migrate import alembic_config
from shared.models import Base, ChargePoint, User
from tests.conftest import fresh_postgres_database


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


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_0008_keeps_existing_charge_points_logging(backend: str, tmp_path: Path) -> None:
    """A charge point stored before the message_log switch existed still logs its frames."""
    with _fresh_database(backend, tmp_path) as url:
        config = alembic_config(url)
        command.upgrade(config, "0007")
        engine = make_engine(url)
        user_id, charge_point_id, now = uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)
        stamps = {"created_at": now, "updated_at": now}
        users = User.__table__
        charge_points = table(  # as 0007 left it: the model's columns but the new one
            "charge_points",
            *(column(c.name, c.type) for c in ChargePoint.__table__.c if c.name != "message_log"),
        )
        with engine.begin() as connection:
            connection.execute(
                users.insert().values(
                    id=user_id, username="old", hashed_password="x", is_active=True, **stamps
                )
            )
            connection.execute(
                charge_points.insert().values(
                    id=charge_point_id,
                    user_id=user_id,
                    name="stored before 0008",
                    cid="OLD-1",
                    vendor="v",
                    model="m",
                    firmware_version="1",
                    csms_url="ws://localhost:9000",
                    ocpp_protocol="ocpp1.6",
                    voltage_ac=230,
                    voltage_dc=400,
                    maximum_dc_power=50,
                    maximum_ac_power=22,
                    speed_factor=1,
                    status="Unavailable",
                    connected=False,
                    desired_state="disconnected",
                    token_cost_per_minute=2,
                    **stamps,
                )
            )
        engine.dispose()
        command.upgrade(config, "head")
        engine = make_engine(url)
        with engine.connect() as connection:
            logging = connection.execute(
                text("SELECT message_log FROM charge_points WHERE cid = 'OLD-1'")
            ).scalar_one()
        engine.dispose()
        assert logging in (True, 1)
        command.downgrade(config, "0007")


@contextmanager
def _fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'at-0007.sqlite3'}"
    else:
        with fresh_postgres_database() as url:
            yield url

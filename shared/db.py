"""The database engine and sessions, for SQLite (embedded) and Postgres alike."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from shared.settings import get_settings

#: SQLite's page cache per connection, at most (see _configure_sqlite).
SQLITE_CACHE_KIB = 65_536
#: WAL pages after which a commit checkpoints (see _configure_sqlite).
SQLITE_CHECKPOINT_PAGES = 10_000


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=dumps_json,
        )
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, json_serializer=dumps_json
    )


def dumps_json(value: Any) -> str:
    """JSON columns (OCPP payloads, twin states) are written many times a second: orjson
    is several times faster than the standard library. What orjson refuses (an integer
    beyond 64 bits a CSMS sent, say) still goes through ``json``."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def _configure_sqlite(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    """WAL lets the API read while the twin host writes; foreign keys are off by default.

    The twin host's event writer adds frames and meter samples of thousands of charge
    points twice a second, each into its charge point's part of the indexes. With
    SQLite's defaults (a 2 MB page cache, a checkpoint every 1,000 WAL pages) it read
    those index pages back from the file at every batch, and checkpointed after nearly
    every batch, copying the same pages into the database again and again. A cache of up
    to 64 MB per connection (taken as pages are used) and a checkpoint every 10,000 pages
    (a WAL of up to 40 MB) cut its CPU by a sixth at 10,000 twins (benchmarks/writer.py).
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
    cursor.close()


@lru_cache
def get_engine() -> Engine:
    url = get_settings().database_url
    assert url is not None
    return make_engine(url)


@lru_cache
def _session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def session_for(engine: Engine) -> Session:
    return _session_factory(engine)()


def get_session() -> Iterator[Session]:
    with session_for(get_engine()) as session:
        yield session

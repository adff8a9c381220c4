"""CPU per simple read of the public API in-process (issue 14): no server, no network, no twins.

Builds the public app on a fresh, migrated database (SQLite in a temporary folder, or
``--database-url`` of an empty Postgres database), creates a user, one charge point (one
EVSE, one connector) and one vehicle through the API, and marks the connector as charging
that vehicle, as a twin's last report leaves it (so that a read carries the values on,
worker/readings.py). Then calls the app's ASGI callable directly, ``--concurrency``
requests at a time on one event loop, ``--requests`` times for each of

- ``GET /twin/charge-point/{id}``
- ``GET /twin/vehicle/{id}``

and prints the process's CPU per request (the database server's own CPU not included),
the SQL statements one read runs, and requests per second. What it leaves out —
uvicorn, the socket, the twins sharing the loop — ``fleet_start.py`` measures; this
one is steady enough on a shared machine to see a change of a few percent.

    python benchmarks/api_reads.py --label after

writes benchmarks/results/api_reads[-<label>].json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine, event, text

sys.path.insert(0, str(Path(__file__).parents[1]))
from fastapi.testclient import TestClient

from private_api.app import create_app as create_private_app
from public_api.app import create_app as create_public_app
from shared.db import make_engine
from shared.migrate import upgrade
from shared.models.base import utcnow
from shared.settings import Settings
from tests.builders import create_account, create_charge_point, create_vehicle

RESULTS = Path(__file__).parent / "results"
OPERATOR_KEY = "bench-operator-key"


def _id(value: str, sqlite: bool) -> str:
    """A UUID as the database stores it (SQLite: 32 hex digits)."""
    return uuid.UUID(value).hex if sqlite else value


def _charging(engine: Engine, connector_id: str, vehicle_id: str) -> None:
    """The connector charges the vehicle at 11 kW since 5 s ago, as the twin reported."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE connectors SET status = 'Charging', current_ac_power = 11, soc = 50, "
                "measured_at = :at, vehicle_id = :vehicle, transaction_id = :transaction "
                "WHERE id = :id"
            ),
            {
                "at": utcnow() - timedelta(seconds=5),
                "vehicle": _id(vehicle_id, sqlite),
                "transaction": _id(str(uuid.uuid4()), sqlite),
                "id": _id(connector_id, sqlite),
            },
        )
        connection.execute(
            text("UPDATE vehicles SET connector_id = :connector WHERE id = :id"),
            {"connector": _id(connector_id, sqlite), "id": _id(vehicle_id, sqlite)},
        )


class AsgiClient:
    """GETs straight into an ASGI app: what a request costs the app, and nothing else."""

    def __init__(self, app: FastAPI, authorization: str) -> None:
        self.app = app
        self.headers = [(b"host", b"bench"), (b"authorization", authorization.encode())]

    async def get(self, path: str) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": self.headers,
            "client": ("127.0.0.1", 50000),
            "server": ("bench", 80),
            "state": {},
        }
        answer: dict[str, Any] = {"body": b""}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")

        await self.app(scope, receive, send)
        return answer["status"], answer["body"]


async def measure(
    client: AsgiClient, path: str, requests: int, concurrency: int, statements: list[str]
) -> dict[str, Any]:
    status, body = await client.get(path)
    if status != 200:
        raise SystemExit(f"GET {path}: {status} {body[:500]!r}")
    statements.clear()
    await client.get(path)
    queries = [" ".join(statement.split())[:80] for statement in statements]
    for _ in range(50):
        await client.get(path)

    async def reader(count: int) -> None:
        for _ in range(count):
            status, _ = await client.get(path)
            assert status == 200

    began, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(reader(requests // concurrency) for _ in range(concurrency)))
    cpu, elapsed = time.process_time() - cpu, time.perf_counter() - began
    done = requests // concurrency * concurrency
    return {
        "cpu_ms_per_request": round(cpu / done * 1000, 3),
        "requests_per_second": round(done / elapsed),
        "requests": done,
        "statements_per_request": len(queries),
        "statements": queries,
    }


async def run(
    app: FastAPI,
    engine: Engine,
    authorization: str,
    paths: dict[str, str],
    arguments: argparse.Namespace,
) -> dict[str, Any]:
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    client = AsgiClient(app, authorization)
    async with app.router.lifespan_context(app):
        return {
            name: await measure(client, path, arguments.requests, arguments.concurrency, statements)
            for name, path in paths.items()
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="GETs of each kind")
    parser.add_argument("--concurrency", type=int, default=8, help="GETs in flight")
    parser.add_argument("--database-url", help="an empty database (default: SQLite, fresh)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the output")
    parser.add_argument("--label", default="", help="appended to the file name: -LABEL")
    arguments = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="elu-reads-"))
    url = arguments.database_url or f"sqlite:///{folder / 'elu.sqlite'}"
    try:
        upgrade(url)
        engine = make_engine(url)
        settings = Settings(
            data_dir=folder,
            database_url=url,
            secret_key=uuid.uuid4().hex * 2,
            operator_key=OPERATOR_KEY,
        )
        public = create_public_app(settings, engine)
        private = create_private_app(settings, engine)
        with (
            TestClient(public) as public_client,
            TestClient(private, headers={"X-Operator-Key": OPERATOR_KEY}) as private_client,
        ):
            account = create_account(private_client, public_client)
            charge_point = create_charge_point(
                public_client, account, evses=[{"connectors": [{"connector_type": "cType2"}]}]
            )
            vehicle = create_vehicle(public_client, account)
        _charging(engine, charge_point["evses"][0]["connectors"][0]["id"], vehicle["id"])
        paths = {
            "get_charge_point": f"/twin/charge-point/{charge_point['id']}",
            "get_vehicle": f"/twin/vehicle/{vehicle['id']}",
        }
        reads = asyncio.run(run(public, engine, account.headers["Authorization"], paths, arguments))
        engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result = {
        "database": engine.dialect.name,
        "requests": arguments.requests,
        "concurrency": arguments.concurrency,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
    } | reads
    suffix = f"-{arguments.label}" if arguments.label else ""
    arguments.results.mkdir(parents=True, exist_ok=True)
    (arguments.results / f"api_reads{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

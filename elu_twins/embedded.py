"""Embedded mode: both APIs, both test CSMSs and a twin host in one process on SQLite."""

from __future__ import annotations

import logging

from elu_twins.servers import make_server, serve_all
from private_api.app import create_app as create_private_app
from public_api.app import create_app as create_public_app
from shared.db import make_engine
from shared.migrate import upgrade
from shared.settings import Settings

logger = logging.getLogger(__name__)


def banner(settings: Settings) -> str:
    host = settings.host
    return "\n".join(
        [
            "ELU Twins is running (embedded mode).",
            f"  public API   http://{host}:{settings.public_api_port}/docs",
            f"  private API  http://{host}:{settings.private_api_port}/docs",
            f"  data         {settings.data_dir.resolve()}",
            f"  operator key {settings.operator_key}",
            "Create your first user:",
            f"  curl -X POST http://{host}:{settings.private_api_port}/user/ \\",
            f"    -H 'X-Operator-Key: {settings.operator_key}' \\",
            "    -H 'Content-Type: application/json' \\",
            """    -d '{"username": "me", "password": "change-me-please"}'""",
        ]
    )


async def run_embedded(settings: Settings) -> None:
    assert settings.database_url is not None
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    servers = [
        make_server(create_public_app(settings, engine), settings.host, settings.public_api_port),
        make_server(create_private_app(settings, engine), settings.host, settings.private_api_port),
    ]
    print(banner(settings), flush=True)
    await serve_all(servers)

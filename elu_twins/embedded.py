"""Embedded mode: both APIs, both test CSMSs and a twin host in one process on SQLite."""

from __future__ import annotations

import asyncio
import logging

from csms_v16.app import create_app as create_csms_v16
from csms_v201.app import create_app as create_csms_v201
from elu_twins import log_labels
from elu_twins.servers import make_server, serve_all
from private_api.app import create_app as create_private_app
from public_api.app import create_app as create_public_app
from shared.crud.users import has_users
from shared.csms.certificates import CsmsTlsSettings
from shared.db import make_engine, session_for
from shared.migrate import upgrade
from shared.open_files import raise_open_files_limit
from shared.settings import Settings
from worker import gc_tuning
from worker.commands import InProcessBus
from worker.host import Host

logger = logging.getLogger(__name__)

#: The embedded process always hosts its twins under this name, so that a restart
#: resumes the twins it ran (within ELU_RESUME_WINDOW, else ends their sessions
#: towards the CSMS as a power loss).
HOST_NAME = "embedded"


def banner(settings: Settings, first_user: bool) -> str:
    """Where everything is; and, until there is a user, how to create the first one."""
    host = settings.host
    tls = CsmsTlsSettings().tls_cert is not None
    ws, http = ("wss", "https") if tls else ("ws", "http")
    lines = [
        "ELU Twins is running (embedded mode).",
        f"  public API          http://{host}:{settings.public_api_port}/docs",
        f"  dashboard           http://{host}:{settings.public_api_port}/ui",
        f"  private API         http://{host}:{settings.private_api_port}/docs",
        f"  OCPP 1.6 CSMS       {ws}://{host}:{settings.csms_v16_port}/<cid>"
        f"   (API {http}://{host}:{settings.csms_v16_port}/docs)",
        f"  OCPP 2.0.1/2.1 CSMS {ws}://{host}:{settings.csms_v201_port}/<cid>"
        f"   (API {http}://{host}:{settings.csms_v201_port}/docs)",
        f"  data                {settings.data_dir.resolve()}",
        f"  operator key        {settings.operator_key}",
    ]
    if first_user:
        lines += [
            "Create your first user:",
            f"  curl -X POST http://{host}:{settings.private_api_port}/user/ \\",
            f"    -H 'X-Operator-Key: {settings.operator_key}' \\",
            "    -H 'Content-Type: application/json' \\",
            """    -d '{"username": "me", "password": "change-me-please"}'""",
        ]
    return "\n".join(lines)


async def run_embedded(settings: Settings) -> None:
    assert settings.database_url is not None
    raise_open_files_limit()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    twin_host = Host(
        engine,
        name=HOST_NAME,
        ca_file=settings.csms_ca_file,
        message_log_limit=settings.message_log_limit,
        lease_seconds=settings.lease_seconds,
        resume_window=settings.resume_window,
    )
    bus = InProcessBus(twin_host, asyncio.get_running_loop())
    csms_apps = [create_csms_v16(), create_csms_v201()]
    csms_tls = CsmsTlsSettings().uvicorn_options()

    async def stopping() -> None:
        """Close the twins' websockets, then the live event streams still open."""
        await twin_host.close()
        for csms in csms_apps:
            csms.state.csms.events.close()

    servers = [
        make_server(
            create_public_app(settings, engine, bus, twin_host.live),
            settings.host,
            settings.public_api_port,
            log_labels.PUBLIC_API,
        ),
        make_server(
            create_private_app(settings, engine, bus),
            settings.host,
            settings.private_api_port,
            log_labels.PRIVATE_API,
        ),
        make_server(
            csms_apps[0], settings.host, settings.csms_v16_port, log_labels.CSMS_V16, tls=csms_tls
        ),
        make_server(
            csms_apps[1], settings.host, settings.csms_v201_port, log_labels.CSMS_V201, tls=csms_tls
        ),
    ]
    log_labels.label_handlers({"worker": log_labels.TWIN_HOST})
    log_labels.SERVICE.set(log_labels.TWIN_HOST)
    await twin_host.start()
    with session_for(engine) as session:
        first_user = not has_users(session)
    print(banner(settings, first_user), flush=True)
    gc_tuning.tune_gc()
    try:
        await serve_all(servers, on_started=twin_host.restore, on_stopping=stopping)
    finally:
        await twin_host.close()

"""The whole stack, embedded or distributed, for tests that act as a user would.

The bundled CSMSs run for real on free localhost ports, and the public and
private APIs are reached through httpx against their ASGI apps. Embedded: the
twin host runs on the test's loop and the in-process bus carries commands, as in
`elu-twins up`. Distributed: the twins run in real Celery worker processes
(:class:`tests.cluster.Cluster`) over real Postgres and Redis, and the commands go
through Redis, as in `elu-twins up --distributed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from csms_v16.app import create_app as create_csms_v16
from csms_v201.app import create_app as create_csms_v201
from private_api.app import create_app as create_private_app
from public_api.app import create_app as create_public_app
from shared.csms.certificates import CertificateAuthority
from shared.settings import Settings
from tests.cluster import Cluster
from tests.csms.server import RunningCsms, serve
from worker.commands import InProcessBus
from worker.host import Host
from worker.redis_events import RedisEventSource


@dataclass
class Stack:
    public_app: FastAPI
    public: httpx.AsyncClient
    private: httpx.AsyncClient
    csms_v16: RunningCsms
    csms_v201: RunningCsms
    #: name -> pid of the processes that host the twins
    hosts: dict[str, int]
    mode: str = "embedded"

    async def hosted_twins(self) -> dict[str, str]:
        """Charge point id -> name of the host that holds it, as operators see it."""
        answer = await self.private.get("/hosts")
        assert answer.status_code == 200, answer.text
        return {
            twin["id"]: host["name"]
            for host in answer.json()
            if host["name"] in self.hosts
            for twin in host["twins"]
        }

    async def account(self) -> dict[str, str]:
        """A new user; answers the Authorization header of its token."""
        username = f"user-{uuid.uuid4().hex[:10]}"
        created = await self.private.post(
            "/user/", json={"username": username, "password": "a-long-password"}
        )
        assert created.status_code == 200, created.text
        token = await self.public.post(
            "/token", data={"username": username, "password": "a-long-password"}
        )
        return {"Authorization": f"Bearer {token.json()['access_token']}"}

    async def vehicle(self, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
        body = {"name": "car", "battery_capacity": 60, "maximum_charging_rate": 50} | overrides
        answer = await self.public.post("/twin/vehicle/", headers=headers, json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def charge_point(
        self, headers: dict[str, str], protocol: str = "ocpp1.6", **overrides: Any
    ) -> dict[str, Any]:
        csms = self.csms_v16 if protocol == "ocpp1.6" else self.csms_v201
        body = {
            "name": "cp",
            "ocpp_protocol": protocol,
            "csms_url": csms.ws_url,
            "speed_factor": 600,
            "evses": [{"connectors": [{"connector_type": "cType2"}]}],
        } | overrides
        answer = await self.public.post("/twin/charge-point/", headers=headers, json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    @contextlib.asynccontextmanager
    async def served_public(self) -> AsyncIterator[str]:
        """The public API on a real HTTP server (a stream needs one: httpx's ASGI transport
        reads an answer whole); answers its base URL."""
        server = uvicorn.Server(
            uvicorn.Config(
                self.public_app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"
            )
        )
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await task

    async def action(self, name: str, headers: dict[str, str], **body: Any) -> httpx.Response:
        return await self.public.post(
            f"/twin/charge-point/action/{name}", headers=headers, json=body, timeout=60
        )


@contextlib.asynccontextmanager
async def running_stack(
    settings: Settings,
    engine: Engine,
    tls: tuple[str, str] | None = None,
    *,
    ca_file: str | None = None,
    client_ca: str | None = None,
    api_verify: ssl.SSLContext | None = None,
    certificate_authority: CertificateAuthority | None = None,
) -> AsyncIterator[Stack]:
    """The stack; with ``tls`` (certificate, key) the CSMSs serve wss and the host trusts
    ``ca_file`` (default: the certificate itself) as its CA (security profile 2); with
    ``client_ca`` too they require client certificates signed by it (profile 3), and their
    API clients use ``api_verify``; ``certificate_authority`` signs their CSRs."""
    host = Host(
        engine,
        name=f"test-{uuid.uuid4().hex[:8]}",
        write_interval=0.1,
        ca_file=Path(ca_file or tls[0]) if tls else None,
    )
    await host.start()
    bus = InProcessBus(host, asyncio.get_running_loop())
    public_app = create_public_app(settings, engine, bus, host.live)
    private_app = create_private_app(settings, engine, bus)
    csms_apps = [create_csms_v16(), create_csms_v201()]
    if certificate_authority is not None:
        for app in csms_apps:
            app.state.csms.certificate_authority = certificate_authority
    tls_options: dict[str, Any] = {"client_ca": client_ca, "api_verify": api_verify}
    try:
        async with (
            serve(csms_apps[0], tls, **tls_options) as csms_v16,
            serve(csms_apps[1], tls, **tls_options) as csms_v201,
            public_app.router.lifespan_context(public_app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=public_app), base_url="http://public"
            ) as public,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=private_app),
                base_url="http://private",
                headers={"X-Operator-Key": settings.operator_key or ""},
            ) as private,
        ):
            yield Stack(public_app, public, private, csms_v16, csms_v201, {host.name: os.getpid()})
    finally:
        await host.close()


@contextlib.asynccontextmanager
async def running_distributed_stack(cluster: Cluster) -> AsyncIterator[Stack]:
    """The stack over the cluster's worker processes; the twins the test connected are
    disconnected at the end, so that the next test's workers are not busy with them."""
    public_app = create_public_app(
        cluster.settings,
        cluster.engine,
        cluster.bus,
        RedisEventSource(cluster.settings.redis_url),
    )
    private_app = create_private_app(cluster.settings, cluster.engine, cluster.bus)
    async with (
        serve(create_csms_v16()) as csms_v16,
        serve(create_csms_v201()) as csms_v201,
        public_app.router.lifespan_context(public_app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=public_app), base_url="http://public"
        ) as public,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=private_app),
            base_url="http://private",
            headers={"X-Operator-Key": cluster.settings.operator_key or ""},
        ) as private,
    ):
        try:
            yield Stack(
                public_app,
                public,
                private,
                csms_v16,
                csms_v201,
                cluster.host_pids(),
                mode="distributed",
            )
        finally:
            await asyncio.to_thread(cluster.disconnect_all)


async def eventually(
    probe: Callable[[], Awaitable[Any]], until: Callable[[Any], bool], timeout: float = 10.0
) -> Any:
    """Poll ``probe`` until ``until(result)`` holds; answers the last result."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await probe()
        if until(result):
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s; last: {result!r}")
        await asyncio.sleep(0.05)

"""Flower, started with `elu-twins flower`, shows the workers that host twins and the tasks
that carry commands to them."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from elu_twins.distributed import child_environment
from tests.cluster import ELU_TWINS, Cluster
from tests.embedded import free_port
from tests.stack import eventually, running_distributed_stack


@pytest.fixture
def flower(cluster: Cluster, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "flower.log").open("wb")
    process = subprocess.Popen(
        [str(ELU_TWINS), "flower", "--port", str(port)],
        # Flower's JSON API answers without a login only when told to.
        env=child_environment(cluster.settings) | {"FLOWER_UNAUTHENTICATED_API": "true"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{url}/healthcheck", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert process.poll() is None, (tmp_path / "flower.log").read_text()
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


async def test_flower_shows_the_workers_and_the_command_tasks(
    cluster: Cluster, flower: str
) -> None:
    async with (
        running_distributed_stack(cluster) as stack,
        httpx.AsyncClient(base_url=flower, timeout=10) as client,
    ):
        await asyncio.sleep(1)  # Flower listens to the events from now on
        headers = await stack.account()
        charge_point = await stack.charge_point(headers)
        connected = await stack.action(
            "connect-charger", headers, charge_point_id=charge_point["id"]
        )
        assert connected.status_code == 200, connected.text

        workers = await eventually(
            lambda: client.get("/api/workers", params={"refresh": "true"}),
            lambda answer: {f"elu@{name}" for name in stack.hosts} <= set(answer.json()),
        )
        assert {f"elu@{name}" for name in stack.hosts} <= set(workers.json())
        tasks = await eventually(
            lambda: client.get("/api/tasks"),
            lambda answer: any(
                task.get("name") == "elu.run_command" for task in answer.json().values()
            ),
        )
        run = [task for task in tasks.json().values() if task.get("name") == "elu.run_command"]
        assert any(task.get("state") == "SUCCESS" for task in run)

"""Slow CSMSs must not stall the API for everyone else."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tests.stack import Stack


@contextlib.asynccontextmanager
async def black_hole() -> AsyncIterator[str]:
    """A server that accepts connections and never answers: the slowest CSMS there is."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()


async def test_sixty_hanging_connects_leave_the_api_answering(stack: Stack) -> None:
    headers = await stack.account()
    async with black_hole() as url:
        body = [{"name": f"slow {n}", "csms_url": url} for n in range(60)]
        created = await stack.public.post("/twin/charge-point/bulk", headers=headers, json=body)
        assert created.status_code == 200, created.text
        connects = [
            asyncio.create_task(
                stack.action("connect-charger", headers, charge_point_id=cp["id"], timeout=3)
            )
            for cp in created.json()
        ]
        await asyncio.sleep(0.5)  # let every connect start waiting on its CSMS
        me = await stack.public.get("/user/me", headers=headers)
        assert me.status_code == 200
        assert not any(task.done() for task in connects), "the API answered only after them"
        answers = await asyncio.gather(*connects)
    assert {answer.status_code for answer in answers} <= {409, 504}
    assert all(answer.json()["detail"] for answer in answers)

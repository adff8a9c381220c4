"""A connect that cannot succeed is answered at once, saying that the twin keeps retrying."""

from __future__ import annotations

import socket

import pytest

from csms_v16.app import create_app as create_csms_v16
from tests.csms.server import serve
from tests.stack import Stack, eventually


def closed_port() -> int:
    """A localhost port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_refused_connect_answers_at_once_and_keeps_retrying(
    stack: Stack, host: str
) -> None:
    headers = await stack.account()
    port = closed_port()
    charge_point = await stack.charge_point(headers, csms_url=f"ws://{host}:{port}")

    # A timeout no test waits for: only an answer at the refusal lets this test finish.
    answer = await stack.action(
        "connect-charger", headers, charge_point_id=charge_point["id"], timeout=300
    )

    assert answer.status_code == 502, answer.text
    error = answer.json()
    assert error["code"] == "csms_unreachable"
    assert f"ws://{host}:{port}/{charge_point['cid']}" in error["detail"]
    assert "refused" in error["detail"].lower()
    assert "keeps retrying in the background" in error["detail"]
    # It does: once a CSMS listens there, the charge point connects without being asked.
    async with serve(create_csms_v16(), port=port):
        read = await eventually(
            lambda: stack.public.get(f"/twin/charge-point/{charge_point['id']}", headers=headers),
            lambda answer: answer.json()["connected"],
            timeout=30,
        )
        assert read.json()["desired_state"] == "connected"
        stopped = await stack.action(
            "disconnect-charger", headers, charge_point_id=charge_point["id"]
        )
        assert stopped.status_code == 200, stopped.text


async def test_a_host_name_that_does_not_resolve_answers_at_once(stack: Stack) -> None:
    headers = await stack.account()
    charge_point = await stack.charge_point(headers, csms_url="ws://no-such-csms.invalid:9000")
    answer = await stack.action(
        "connect-charger", headers, charge_point_id=charge_point["id"], timeout=300
    )
    assert answer.status_code == 502, answer.text
    assert "no-such-csms.invalid" in answer.json()["detail"]
    assert "keeps retrying" in answer.json()["detail"]
    stopped = await stack.action("disconnect-charger", headers, charge_point_id=charge_point["id"])
    assert stopped.status_code == 200, stopped.text

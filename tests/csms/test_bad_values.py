"""The bundled CSMSs' HTTP API refuses what JSON or OCPP cannot carry with a 422, not a 500."""

import json
from typing import Any

import pytest
from fastapi import FastAPI

from csms_v16.app import create_app as create_csms_v16
from csms_v201.app import create_app as create_csms_v201
from tests.csms.server import serve
from tests.csms.test_csms_v16 import charge_point

JSON = {"Content-Type": "application/json"}


def raw_json(body: Any) -> bytes:
    return json.dumps(body, allow_nan=True).encode()


@pytest.mark.parametrize("create_app", [create_csms_v16, create_csms_v201])
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"heartbeat_interval": float("nan")}, "heartbeat_interval"),
        ({"heartbeat_interval": 2**31}, "heartbeat_interval"),
        ({"message_log_size": 2**64}, "message_log_size"),
        ({"allowed_id_tags": ["TAG\x00"]}, "allowed_id_tags"),
        ({"charge_point_passwords": {"CP1": "a\ud800"}}, "charge_point_passwords"),
    ],
)
async def test_settings_refuse_unusable_values(
    create_app: Any, body: dict[str, Any], field: str
) -> None:
    app: FastAPI = create_app()
    async with serve(app) as csms:
        answer = await csms.api.put("/api/settings", content=raw_json(body), headers=JSON)
        assert answer.status_code == 422, answer.text
        assert field in json.loads(answer.content)["detail"][0]["loc"]
        settings = (await csms.api.get("/api/settings")).json()
    assert settings["heartbeat_interval"] < 2**31
    assert settings["allowed_id_tags"] == []


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"key": "HeartbeatInterval", "value": "a\ud800"}, id="lone-surrogate"),
        pytest.param({"key": "HeartbeatInterval", "value": "a\x00b"}, id="nul"),
        pytest.param({"key": "HeartbeatInterval", "value": "1", "x": float("nan")}, id="nan"),
    ],
)
async def test_a_call_payload_json_cannot_carry_is_a_422_and_not_sent(
    payload: dict[str, Any],
) -> None:
    async with serve(create_csms_v16()) as csms, charge_point(csms) as cp:
        await cp.boot()
        answer = await csms.api.post(
            "/api/charge-points/CP1/calls/ChangeConfiguration",
            content=raw_json(payload),
            headers=JSON,
        )
        assert answer.status_code == 422, answer.text
        assert json.loads(answer.content)["detail"][0]["loc"] == ["body"]
        sent = await csms.messages("CP1")
    assert [frame["action"] for frame in sent["data"]] == ["BootNotification", "BootNotification"]

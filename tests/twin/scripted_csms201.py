"""A scripted OCPP 2.0.1 CSMS for twin tests.

The same shape as the 1.6 one (:mod:`tests.twin.scripted_csms`), whose waiting,
scripting and raw-frame helpers it inherits: a real websocket server on localhost
with an ``ocpp.v201.ChargePoint`` per connection on the CSMS side, subprotocol
``ocpp2.0.1``. Every CALL the twin sends is checked against the OCPP 2.0.1 JSON
schema; one that does not validate is recorded with ``valid=False``.
"""

from __future__ import annotations

import logging
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, MessageType, unpack, validate_payload
from ocpp.v201 import ChargePoint
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.twin.scripted_csms import (
    NO_ANSWER,
    EventLog,
    Received,
    ScriptedCsms,
    eventually,
    make_vehicle,
    now_iso,
)
from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import Clock, SystemClock
from worker.twin.config import ChargePointConfig, ConnectorConfig, EvseConfig

logger = logging.getLogger(__name__)

__all__ = [
    "NO_ANSWER",
    "EventLog",
    "ScriptedCsms201",
    "booted_twin",
    "eventually",
    "make_config",
    "make_vehicle",
    "now_iso",
    "sampled",
]


class _CsmsSide201(ChargePoint):
    """The CSMS end of one 2.0.1 connection."""

    def __init__(self, cid: str, connection: ServerConnection, owner: ScriptedCsms201) -> None:
        super().__init__(cid, connection, response_timeout=5)
        self.owner = owner

    async def route_message(self, raw_msg: str) -> None:
        self.owner.frames.append(raw_msg)
        try:
            msg = unpack(raw_msg)
        except OCPPError:
            logger.warning("CSMS got a malformed frame: %s", raw_msg)
            return
        if msg.message_type_id == MessageType.Call:
            await self._answer(msg)
        else:
            self.owner.answers_received.append(msg)
            self._response_queue.put_nowait(msg)

    async def _answer(self, msg: Call) -> None:
        owner = self.owner
        valid = True
        try:
            await validate_payload(Call(msg.unique_id, msg.action, dict(msg.payload)), "2.0.1")
        except OCPPError as error:
            logger.error("twin sent an invalid %s: %s", msg.action, error)
            valid = False
        await owner.record(Received(msg.action, msg.payload, msg.unique_id, valid))
        script = owner.scripts.get(msg.action, {})
        answer = script(msg.payload) if callable(script) else script
        if answer is NO_ANSWER:
            return
        if isinstance(answer, OCPPError):
            await self._send(
                CallError(msg.unique_id, answer.code, answer.description, {}).to_json()
            )
            return
        await self._send(msg.create_call_result(answer or {}).to_json())


class ScriptedCsms201(ScriptedCsms):
    """Accepts boots, authorises every idToken except ``rejected_id_tags`` and
    answers everything else with the smallest valid payload."""

    def __init__(self, password: str | None = None) -> None:
        super().__init__(password)
        self.scripts.clear()
        self.scripts.update(
            {
                "BootNotification": lambda p: {
                    "status": "Accepted",
                    "currentTime": now_iso(),
                    "interval": self.heartbeat_interval,
                },
                "Heartbeat": lambda p: {"currentTime": now_iso()},
                "Authorize": lambda p: {
                    "idTokenInfo": {"status": self._tag_status(p["idToken"]["idToken"])}
                },
                "TransactionEvent": lambda p: (
                    {"idTokenInfo": {"status": self._tag_status(p["idToken"]["idToken"])}}
                    if "idToken" in p
                    else {}
                ),
                "DataTransfer": {"status": "Accepted"},
            }
        )

    async def start(self) -> ScriptedCsms201:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            subprotocols=["ocpp2.0.1"],
            process_request=self._check_auth,
            compression=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, connection: ServerConnection) -> None:
        cid = connection.request.path.rstrip("/").rsplit("/", 1)[-1]
        self.subprotocols.append(connection.subprotocol)
        side = _CsmsSide201(cid, connection, self)
        self.connections[cid] = side  # type: ignore[assignment]
        self.connection_count += 1
        async with self._changed:
            self._changed.notify_all()
        try:
            await side.start()
        except ConnectionClosed:
            pass
        finally:
            if self.connections.get(cid) is side:
                del self.connections[cid]

    def transaction_events(self, transaction_id: str | None = None) -> list[dict[str, Any]]:
        """TransactionEvent payloads, of one transaction when given."""
        return [
            r.payload
            for r in self.of("TransactionEvent")
            if transaction_id is None
            or r.payload["transactionInfo"]["transactionId"] == transaction_id
        ]


# -- builders --------------------------------------------------------------------------


def make_config(
    url: str,
    *,
    cid: str = "CS1",
    connector_types: tuple[str, ...] = ("cType2",),
    connectors_per_evse: int = 1,
    **overrides: Any,
) -> ChargePointConfig:
    """A 2.0.1 charging station with one EVSE per entry of ``connector_types``."""
    evses = []
    number = 1
    for evse_id, connector_type in enumerate(connector_types, start=1):
        connectors = []
        for n in range(1, connectors_per_evse + 1):
            connectors.append(ConnectorConfig(number, n, connector_type))
            number += 1
        evses.append(EvseConfig(evse_id, tuple(connectors)))
    return ChargePointConfig(
        charge_point_id=f"id-{cid}",
        cid=cid,
        protocol="ocpp2.0.1",
        csms_url=url,
        evses=tuple(evses),
        **overrides,
    )


async def booted_twin(
    csms: ScriptedCsms201,
    events: EventLog,
    *,
    clock: Clock | None = None,
    speed: float = 600,
    **config: Any,
) -> ChargePointTwin:
    """A 2.0.1 twin connected to ``csms`` whose boot was accepted."""
    twin = ChargePointTwin(
        make_config(csms.url, **config), clock or SystemClock(speed=speed), events
    )
    await twin.start()
    await twin.connected(timeout=5)
    return twin


def sampled(payload: dict[str, Any], index: int = 0) -> dict[str, float]:
    """Measurand → value of one MeterValue of a TransactionEvent or MeterValues payload."""
    values = payload["meterValue"][index]["sampledValue"]
    return {v.get("measurand", "Energy.Active.Import.Register"): v["value"] for v in values}

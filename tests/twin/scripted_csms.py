"""A scripted OCPP 1.6 central system for twin tests, and the base of the 2.0.1 one.

A real websocket server on localhost (``websockets.serve``) with an
``ocpp.v16.ChargePoint`` per connection on the CSMS side (the version is two class
attributes of :class:`ScriptedCsms`: ``subprotocol`` and ``side``). Each test sets what the
CSMS answers (:meth:`ScriptedCsms.answer`), awaits what it receives
(:meth:`ScriptedCsms.wait_for`), and sends CSMS-initiated calls
(:meth:`ScriptedCsms.call`) or raw frames (:meth:`ScriptedCsms.send_raw`).

Every CALL the twin sends is checked against the version's JSON schema; a CALL that
does not validate is recorded with ``valid=False`` (tests assert there are none).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Self, TypeVar

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, MessageType, unpack, validate_payload
from ocpp.v16 import ChargePoint
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from worker.twin.charge_point import ChargePointTwin
from worker.twin.clock import SystemClock
from worker.twin.config import ChargePointConfig, ConnectorConfig, EvseConfig
from worker.twin.vehicle import Vehicle

logger = logging.getLogger(__name__)
T = TypeVar("T")

Answer = dict[str, Any] | OCPPError | None
Script = Answer | Callable[[dict[str, Any]], Answer]

#: Answer value meaning: say nothing (the twin's call times out).
NO_ANSWER = object()


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Received:
    """A CALL the CSMS received, with its camelCase payload."""

    action: str
    payload: dict[str, Any]
    unique_id: str
    valid: bool = True
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class CsmsSide:
    """The CSMS end of one connection, for either version: mix in before the
    library's ChargePoint (``class _CsmsSide(CsmsSide, ocpp.v16.ChargePoint)``)."""

    _ocpp_version: str

    def __init__(self, cid: str, connection: ServerConnection, owner: ScriptedCsms) -> None:
        super().__init__(cid, connection, response_timeout=5)  # type: ignore[call-arg]
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
            call = Call(msg.unique_id, msg.action, dict(msg.payload))
            await validate_payload(call, self._ocpp_version)
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


class _CsmsSide(CsmsSide, ChargePoint):
    """The CSMS end of one 1.6 connection."""


class ScriptedCsms:
    """Start with ``await csms.start()``; the twin's URL is ``csms.url``.

    By default it accepts boots (``heartbeat_interval``), authorises every id tag
    except ``rejected_id_tags``, numbers transactions 1, 2, 3... and answers
    everything else with an empty payload.
    """

    subprotocol: ClassVar[str] = "ocpp1.6"
    side: ClassVar[type[Any]] = _CsmsSide

    def __init__(
        self, password: str | None = None, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.password = password
        self.ssl_context = ssl_context
        self.port = 0
        self.scripts: dict[str, Script] = {}
        self.received: list[Received] = []
        self.frames: list[str] = []
        self.answers_received: list[Any] = []
        self.connections: dict[str, Any] = {}
        self.connection_count = 0
        self.auth_headers: list[str | None] = []
        self.subprotocols: list[str | None] = []
        #: The DER client certificate of each connection over TLS (None: it gave none).
        self.peer_certificates: list[bytes | None] = []
        self.heartbeat_interval = 300
        self.rejected_id_tags: set[str] = set()
        self._transaction_ids = itertools.count(1)
        self._server: Server | None = None
        self._changed = asyncio.Condition()
        self.scripts.update(self.default_scripts())

    def default_scripts(self) -> dict[str, Script]:
        """The answers every version gives alike, then :meth:`version_scripts`."""
        return {
            "BootNotification": lambda p: {
                "status": "Accepted",
                "currentTime": now_iso(),
                "interval": self.heartbeat_interval,
            },
            "Heartbeat": lambda p: {"currentTime": now_iso()},
            "DataTransfer": {"status": "Accepted"},
            **self.version_scripts(),
        }

    def version_scripts(self) -> dict[str, Script]:
        return {
            "Authorize": lambda p: {"idTagInfo": {"status": self._tag_status(p["idTag"])}},
            "StartTransaction": lambda p: {
                "transactionId": next(self._transaction_ids),
                "idTagInfo": {"status": self._tag_status(p["idTag"])},
            },
            "StopTransaction": {"idTagInfo": {"status": "Accepted"}},
        }

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://127.0.0.1:{self.port}"

    # -- server -------------------------------------------------------------------------

    async def start(self) -> Self:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            subprotocols=[Subprotocol(self.subprotocol)],
            process_request=self._check_auth,
            compression=None,
            ssl=self.ssl_context,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close the server and every connection (the CSMS goes away)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.connections.clear()

    def _check_auth(self, connection: ServerConnection, request: Request) -> Response | None:
        header = request.headers.get("Authorization")
        self.auth_headers.append(header)
        if self.password is None:
            return None
        cid = request.path.rstrip("/").rsplit("/", 1)[-1]
        token = base64.b64encode(f"{cid}:{self.password}".encode()).decode()
        if header != f"Basic {token}":
            return connection.respond(401, "wrong credentials\n")
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        cid = connection.request.path.rstrip("/").rsplit("/", 1)[-1]
        self.subprotocols.append(connection.subprotocol)
        ssl_object = connection.transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.peer_certificates.append(ssl_object.getpeercert(binary_form=True))
        side = self.side(cid, connection, self)
        self.connections[cid] = side
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

    # -- script -------------------------------------------------------------------------

    def answer(self, action: str, script: Script) -> None:
        """What to answer ``action`` with: a payload, an OCPPError (CALLERROR),
        ``NO_ANSWER``, or a function of the request payload returning one of these."""
        self.scripts[action] = script

    def _tag_status(self, id_tag: str) -> str:
        return "Invalid" if id_tag in self.rejected_id_tags else "Accepted"

    async def record(self, item: Received) -> None:
        self.received.append(item)
        async with self._changed:
            self._changed.notify_all()

    # -- waiting --------------------------------------------------------------------------

    def of(self, action: str) -> list[Received]:
        return [r for r in self.received if r.action == action]

    async def wait_for(
        self,
        action: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        count: int = 1,
        timeout: float = 5.0,
    ) -> Received:
        """Wait until ``count`` matching CALLs have arrived; return the last."""

        def matching() -> list[Received]:
            return [r for r in self.of(action) if predicate is None or predicate(r.payload)]

        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(matching()) >= count)

        try:
            await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            got = [(r.action, r.payload) for r in self.received[-10:]]
            raise AssertionError(f"no {count}x {action} within {timeout} s; last: {got}") from None
        return matching()[count - 1]

    async def wait_connected(self, cid: str, *, count: int = 1, timeout: float = 5.0) -> Any:
        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(
                    lambda: cid in self.connections and self.connection_count >= count
                )

        await asyncio.wait_for(until(), timeout)
        return self.connections[cid]

    # -- CSMS-initiated -------------------------------------------------------------------

    async def call(self, cid: str, payload: Any) -> Any:
        """Send a CALL (an ``ocpp.v16.call`` / ``ocpp.v201.call`` dataclass) and
        return the result."""
        side = self.connections[cid]
        return await side.call(payload, suppress=False)

    async def send_raw(self, cid: str, frame: str) -> None:
        await self.connections[cid]._connection.send(frame)

    async def wait_answer(self, unique_id: str, timeout: float = 5.0) -> Any:
        """Wait for the twin's answer (CALLRESULT or CALLERROR) to a raw CALL."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            for frame in self.frames:
                data = json.loads(frame) if frame.startswith("[") else None
                if data and data[0] in (3, 4) and data[1] == unique_id:
                    return data
            await asyncio.sleep(0.01)
        raise AssertionError(f"no answer to {unique_id}; frames: {self.frames[-5:]}")


# -- builders for twin tests ------------------------------------------------------------


def make_config(
    url: str,
    *,
    cid: str = "CP1",
    connector_types: tuple[str, ...] = ("cType2",),
    **overrides: Any,
) -> ChargePointConfig:
    """A charge point with one EVSE per connector."""
    evses = tuple(
        EvseConfig(n, (ConnectorConfig(n, 1, connector_type),))
        for n, connector_type in enumerate(connector_types, start=1)
    )
    return ChargePointConfig(
        charge_point_id=f"id-{cid}",
        cid=cid,
        protocol="ocpp1.6",
        csms_url=url,
        evses=evses,
        **overrides,
    )


class EventLog(list[Any]):
    """Collects a twin's events; ``of(Type)`` filters them."""

    def __call__(self, event: Any) -> None:
        self.append(event)

    def of(self, kind: type[T]) -> list[T]:
        return [e for e in self if isinstance(e, kind)]


def make_vehicle(soc: float = 20.0, capacity_kwh: float = 60.0) -> Vehicle:
    return Vehicle(capacity_kwh=capacity_kwh, soc=soc, max_ac_kw=22.0, max_dc_kw=150.0)


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (real seconds) until ``condition()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def booted_twin(
    csms: ScriptedCsms, events: EventLog, *, speed: float = 600, **config: Any
) -> ChargePointTwin:
    """A twin connected to ``csms`` whose boot was accepted."""
    twin = ChargePointTwin(make_config(csms.url, **config), SystemClock(speed=speed), events)
    await twin.start()
    await twin.connected(timeout=5)
    return twin


def sampled(payload: dict[str, Any]) -> dict[str, float]:
    """Measurand → value of the first MeterValue of a MeterValues payload."""
    values = payload["meterValue"][0]["sampledValue"]
    return {v["measurand"]: float(v["value"]) for v in values}

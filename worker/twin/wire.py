"""OCPP-J on the wire, the same for 1.6 and 2.0.1: what both adapters inherit.

:class:`OcppJAdapter` sits between :class:`~worker.twin.protocol.ProtocolAdapter` and
the version's ``ocpp`` library ChargePoint (``ocpp.v16`` / ``ocpp.v201``), which
still routes and schema-validates the CSMS's CALLs. It owns:

* framing: parsing each frame once (:func:`message_of`), recovering the message id
  of a broken one (:func:`unique_id_of`), CALLERROR frames with the version's
  spelling of the error codes (:meth:`OcppJAdapter.call_error`);
* routing by action through the class's route table (:class:`RouteTable`), with the
  ordering rule of :class:`~worker.twin.protocol.ProtocolAdapter` (answer first,
  then what the CALL causes);
* the twin's own CALLs: one outstanding at a time under ``_call_lock``, the answer
  handed over through one future, a response timeout, and schema validation of the
  answers whose content the twin uses (``validated_answers``);
* validation of every CALL the twin sends against the official request schema,
  before it is sent (:class:`OutgoingSchemas`);
* the clock-aligned sampler: a task that wakes on each interval boundary (aligned
  to midnight UTC) while connected, and asks the version what to send.

A version adapter keeps only what differs: its messages, its handlers, its
configuration, and the few hooks below (:meth:`OcppJAdapter.before_call`,
:meth:`OcppJAdapter.validates_answer`, :meth:`OcppJAdapter.unhandled_action`,
:meth:`OcppJAdapter.aligned_interval`, :meth:`OcppJAdapter.sample_aligned`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import types
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import fastjsonschema
import jsonschema_rs
import ocpp
import ocpp.charge_point
import ocpp.messages
import orjson
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult, MessageType, unpack, validate_payload
from websockets.exceptions import ConnectionClosed

from worker.twin.protocol import (
    CallFailed,
    ConnectionLost,
    InvalidOutgoingCall,
    LoggedConnection,
    MeterSample,
    ProtocolAdapter,
)

logger = logging.getLogger(__name__)

# Validate the CSMS's messages in the event loop, not in a thread pool (process
# wide): a small payload costs less than a thread hand-off, and it keeps an answer
# ahead of the CALLs it causes.
ocpp.messages.ASYNC_VALIDATION = False

#: The error details that mark the answer :meth:`OcppJAdapter.detach` makes up.
LOST = "connection lost"


# -- frames ---------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 date-time from the wire; None when absent or unreadable."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def plain(value: Any) -> Any:
    """Decimals (the library parses profile numbers as Decimal) back to floats."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if type(value).__name__ == "Decimal":
        return float(value)
    return value


def message_of(frame: Any) -> Call | CallResult | CallError | None:
    """The message of a well-formed frame; None to let ``unpack`` say what is wrong."""
    if not isinstance(frame, list) or len(frame) < 3 or not isinstance(frame[1], str):
        return None
    kind = frame[0]
    if kind == MessageType.Call and len(frame) == 4 and isinstance(frame[2], str):
        return Call(frame[1], frame[2], frame[3])
    if kind == MessageType.CallResult and len(frame) == 3:
        return CallResult(frame[1], frame[2])
    if kind == MessageType.CallError and len(frame) in (4, 5):
        return CallError(*frame[1:])
    return None


def unique_id_of(raw: str) -> str | None:
    """The message id of a frame that is not valid OCPP, "-1" when unreadable;
    None when the frame is an answer (answers are never answered)."""
    try:
        frame = json.loads(raw)
    except (ValueError, TypeError):
        return "-1"
    if isinstance(frame, list) and len(frame) >= 2 and isinstance(frame[1], str):
        if frame[0] in (MessageType.CallResult, MessageType.CallError):
            return None
        return frame[1]
    return "-1"


def encode_frame(frame: list[Any]) -> str:
    """A frame's compact JSON: orjson (~1 µs for a MeterValues; ``json.dumps`` 11 µs), and
    ``json`` for what orjson refuses (an integer beyond 64 bits, a Decimal)."""
    try:
        return orjson.dumps(frame).decode()
    except TypeError:
        return json.dumps(frame, separators=(",", ":"))


class RouteTable:
    """The library's route map, bound per call instead of per twin.

    ``ocpp`` builds a dict of bound handlers for every instance; with thousands of
    twins that is memory for nothing. This reads the class's ``@on`` handlers once.
    """

    __slots__ = ("_owner",)
    _by_class: ClassVar[dict[type, dict[str, tuple[Callable[..., Any], bool]]]] = {}

    def __init__(self, owner: Any) -> None:
        self._owner = owner

    @classmethod
    def table(cls, owner_type: type) -> dict[str, tuple[Callable[..., Any], bool]]:
        table = cls._by_class.get(owner_type)
        if table is None:
            table = {}
            for name in dir(owner_type):
                function = getattr(owner_type, name, None)
                action = getattr(function, "_on_action", None)
                if action is not None:
                    table[str(action)] = (
                        function,
                        getattr(function, "_skip_schema_validation", False),
                    )
            cls._by_class[owner_type] = table
        return table

    def __getitem__(self, action: str) -> dict[str, Any]:
        function, skip = self.table(type(self._owner))[action]
        return {
            "_on_action": types.MethodType(function, self._owner),
            "_skip_schema_validation": skip,
        }

    def __contains__(self, action: object) -> bool:
        return action in self.table(type(self._owner))


# -- outgoing CALLs ----------------------------------------------------------------------

_SCHEMAS = Path(ocpp.__file__).parent


class OutgoingSchemas:
    """The official request schemas of one OCPP version, compiled once per process.

    Each action's schema (``ocpp/v16/schemas/<Action>.json``,
    ``ocpp/v201/schemas/<Action>Request.json``, shipped with the library) is compiled on
    first use by jsonschema-rs (``format`` checked), the validator the bundled CSMSs use
    (``shared/csms/frames.py``), which decides. Measured with ``timeit`` (Python 3.11,
    same machine): a 1.6 MeterValues with three sampled values takes 1.4 µs, a 2.0.1
    TransactionEvent 1.5 µs; fastjsonschema's generated code 11 and 27 µs, the library's
    ``validate_payload`` (jsonschema) ~190 µs. Cheap enough to check every CALL the twin
    sends.

    A payload it refuses is checked by fastjsonschema too (``use_default=False``: never
    writing the schema's defaults into the payload), for its error message, which names
    the offending field ("data.meterValue[0]... must be one of ...").
    """

    __slots__ = ("_directory", "_explainers", "_suffix", "_validators", "version")

    def __init__(self, version: str) -> None:
        self.version = version
        self._directory = _SCHEMAS / f"v{version.replace('.', '')}" / "schemas"
        self._suffix = "" if version == "1.6" else "Request"
        self._validators: dict[str, Any] = {}
        self._explainers: dict[str, Callable[[Any], Any]] = {}

    def _schema(self, action: str) -> Any:
        path = self._directory / f"{action}{self._suffix}.json"
        return json.loads(path.read_text(encoding="utf-8-sig"))

    def validator(self, action: str) -> Any:
        """The compiled jsonschema-rs validator of ``action``'s request."""
        validator = self._validators.get(action)
        if validator is None:
            validator = jsonschema_rs.validator_for(self._schema(action), validate_formats=True)
            self._validators[action] = validator
        return validator

    def _explain(self, action: str, payload: Any) -> None:
        """Raise fastjsonschema's error for a payload jsonschema-rs refused (or could
        not take in: an integer beyond 64 bits)."""
        explainer = self._explainers.get(action)
        if explainer is None:
            explainer = fastjsonschema.compile(self._schema(action), use_default=False)
            self._explainers[action] = explainer
        explainer(payload)

    def check(self, action: str, payload: Any) -> None:
        """Raise :class:`fastjsonschema.JsonSchemaException` (or OSError for an
        action without a schema) when ``payload`` is not a valid ``action`` request."""
        validator = self.validator(action)
        try:
            if validator.is_valid(payload):
                return
        except ValueError:  # a value it cannot take in: fastjsonschema decides
            self._explain(action, payload)
            return
        self._explain(action, payload)
        # Only jsonschema-rs refuses it (a format fastjsonschema lets through): its words.
        problem = next(iter(validator.iter_errors(payload)), None)
        raise fastjsonschema.JsonSchemaException(f"data {problem}")


#: One set per OCPP version, shared by every twin of the process.
OUTGOING_SCHEMAS = {version: OutgoingSchemas(version) for version in ("1.6", "2.0.1", "2.1")}


# -- the adapter base --------------------------------------------------------------------


class OcppJAdapter(ProtocolAdapter):
    """The OCPP-J machinery of an adapter; mix in before the library's ChargePoint:
    ``class Ocpp16Adapter(OcppJAdapter, ocpp.v16.ChargePoint)``."""

    #: The library's version word ("1.6", "2.0.1", "2.1"); set by its ChargePoint class.
    _ocpp_version: ClassVar[str]
    #: CALLERROR codes this version spells differently from the library (2.0.1).
    error_codes: ClassVar[Mapping[str, str]] = {}
    #: Answers whose content the twin uses, checked against the response schema;
    #: the rest are read defensively (their validation would cost more than
    #: everything else the twin does for them).
    validated_answers: ClassVar[frozenset[str]] = frozenset()
    #: Security event names this version spells differently from 2.0.1.
    security_event_names: ClassVar[Mapping[str, str]] = {}

    def _init_wire(self, twin: Any) -> None:
        """Set what the wire needs (instead of the library's ``__init__``, which
        wants a connection and builds a route map per instance)."""
        self.twin = twin
        self.id = twin.config.cid
        self._response_timeout = twin.response_timeout
        self._connection: LoggedConnection | None = None
        self.route_map = RouteTable(self)
        self._call_lock = asyncio.Lock()
        self._unique_id_generator = uuid.uuid4
        self.logger = ocpp.charge_point.LOGGER
        self._id_prefix = uuid.uuid4().hex[:8] + "-"
        self._sequence = 0
        self._awaiting: str | None = None
        self._response: asyncio.Future[CallResult | CallError] | None = None
        #: Loop time by which the CALL in flight must be answered; ``_expiry`` is the
        #: one timer that checks it (see :meth:`_check_deadline`).
        self._deadline = 0.0
        self._expiry: asyncio.TimerHandle | None = None
        self._deferred = None
        self._outgoing = OUTGOING_SCHEMAS[self._ocpp_version]
        self._aligned_task: asyncio.Task[None] | None = None

    # -- hooks ---------------------------------------------------------------------------

    def before_call(self, action: str) -> None:
        """Called before each CALL the twin sends, while connected."""

    def validates_answer(self, action: str, answer: dict[str, Any]) -> bool:
        return action in self.validated_answers

    def unhandled_action(self, action: str) -> OCPPError:
        """The CALLERROR for a CSMS CALL that no handler of this adapter answers."""
        return OcppNotImplemented(details={"cause": f"{action} is not implemented"})

    def aligned_interval(self) -> int:
        """Seconds between clock-aligned samples; 0 when the twin sends none."""
        return 0

    def sample_aligned(self) -> None:
        """A clock-aligned boundary is here (and the twin is online): sample and
        queue or send what the version asks for. Must not block."""

    # -- connection ----------------------------------------------------------------------

    def attach(self, connection: LoggedConnection) -> None:
        self._connection = connection
        self._restart_aligned()

    def detach(self) -> None:
        self._connection = None
        self._answer(CallError(self._awaiting or "", "GenericError", LOST, {"elu": LOST}))
        self._restart_aligned()

    def _answer(self, message: CallResult | CallError) -> None:
        """An answer arrived: hand it to the CALL waiting for it, if it is that one."""
        waiting = self._response
        if waiting is None or waiting.done() or message.unique_id != self._awaiting:
            if message.unique_id:
                logger.info("%s: ignoring answer %s nobody waits for", self.id, message.unique_id)
            return
        waiting.set_result(message)

    async def _send(self, message: str) -> None:
        connection = self._connection
        if connection is None:
            raise ConnectionLost("not connected")
        try:
            await connection.send(message)
        except ConnectionClosed as error:
            raise ConnectionLost(f"connection closed: {error}") from None

    # -- clock-aligned meter values --------------------------------------------------------

    def _restart_aligned(self) -> None:
        """Run the clock-aligned sampler while connected and :meth:`aligned_interval`
        asks for it; call again whenever the interval may have changed.

        Only twins with a non-zero interval pay for the task.
        """
        if self._aligned_task is not None:
            self._aligned_task.cancel()
            self._aligned_task = None
        if self._connection is not None:
            interval = self.aligned_interval()
            if interval > 0:
                self._aligned_task = asyncio.ensure_future(self._aligned_loop(interval))

    async def _aligned_loop(self, interval: int) -> None:
        """Wake on every boundary of ``interval`` seconds counted from the epoch (so
        from midnight UTC for intervals that divide a day), on the twin's clock."""
        twin = self.twin
        last = 0.0
        while True:
            seconds = twin.now().timestamp()
            boundary = (math.floor(seconds / interval) + 1) * interval
            if boundary <= last:
                boundary = last + interval
            await twin.clock.sleep(boundary - seconds)
            last = boundary
            if twin.online:
                try:
                    self.sample_aligned()
                except Exception:
                    logger.exception("%s: clock-aligned sample failed", self.id)

    # -- twin → CSMS ---------------------------------------------------------------------

    def check_outgoing(self, action: str, payload: dict[str, Any]) -> None:
        """Refuse a CALL whose payload breaks the version's request schema: log it
        and raise :class:`InvalidOutgoingCall`, so that the frame is never sent."""
        try:
            self._outgoing.check(action, payload)
        except (fastjsonschema.JsonSchemaException, OSError) as error:
            logger.error(
                "%s: not sending %s, it breaks the OCPP %s schema: %s; payload %.500r",
                self.id,
                action,
                self._ocpp_version,
                error,
                payload,
            )
            raise InvalidOutgoingCall(
                f"{action}: not sent, the payload breaks the OCPP {self._ocpp_version} "
                f"schema: {error}"
            ) from None

    async def _call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one CALL (camelCase payload) and return the answer's payload.

        The library's ``call`` would validate our payload with jsonschema (~190 µs
        for a MeterValues), convert keys twice and start a task per answer. Here
        the payload is checked with the compiled schema (:class:`OutgoingSchemas`),
        only the answers whose content the twin uses are validated, and the answer
        is handed over through one future.
        """
        if self._connection is None:
            raise ConnectionLost("not connected")
        self.check_outgoing(action, payload)
        self.before_call(action)
        self._sequence += 1
        unique_id = f"{self._id_prefix}{self._sequence}"
        frame = [MessageType.Call, unique_id, action, payload]
        raw = encode_frame(frame)
        loop = asyncio.get_running_loop()
        async with self._call_lock:
            connection = self._connection
            if connection is None:
                raise ConnectionLost("not connected")
            self._awaiting = unique_id
            self._response = response_future = loop.create_future()
            self._deadline = deadline = loop.time() + self._response_timeout
            if self._expiry is None:
                self._expiry = loop.call_at(deadline, self._check_deadline, deadline)
            try:
                try:
                    await connection.send_frame(raw, frame)
                except ConnectionClosed as error:
                    raise ConnectionLost(f"connection closed: {error}") from None
                response = await response_future
            except TimeoutError:
                raise CallFailed(
                    f"{action}: no answer within {self._response_timeout:g} s", timeout=True
                ) from None
            finally:
                self._awaiting = None
                self._response = None
        if response.message_type_id == MessageType.CallError:
            if response.error_details == {"elu": LOST}:
                raise ConnectionLost(f"connection lost while waiting for the {action} answer")
            raise CallFailed(
                f"{action}: CSMS answered {response.error_code}: {response.error_description}"
            )
        answer = response.payload
        if not isinstance(answer, dict):
            raise CallFailed(f"{action}: invalid answer from the CSMS: {answer!r}")
        if self.validates_answer(action, answer):
            response.action = action
            try:
                await validate_payload(response, self._ocpp_version)
            except OCPPError as error:
                raise CallFailed(f"{action}: invalid answer from the CSMS: {error}") from None
        return answer

    def _check_deadline(self, armed_for: float) -> None:
        """The response timer: one per adapter, armed for the oldest deadline and left
        to fire rather than made and cancelled for each CALL (thousands of twins each
        sending a CALL every few seconds would fill the loop's timer heap with
        cancelled handles). When it fires for a CALL already answered, it re-arms for
        the one in flight, if any."""
        self._expiry = None
        waiting = self._response
        if waiting is None or waiting.done():
            return
        if self._deadline <= armed_for:
            waiting.set_exception(TimeoutError())
        else:
            self._expiry = waiting.get_loop().call_at(
                self._deadline, self._check_deadline, self._deadline
            )

    async def send_heartbeat(self) -> datetime | None:
        result = await self._call("Heartbeat", {})
        return parse_time(result.get("currentTime"))

    async def send_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: Any = None
    ) -> tuple[str, Any]:
        """The same message in both versions; returns the CSMS's status and data."""
        payload: dict[str, Any] = {"vendorId": vendor_id}
        if message_id is not None:
            payload["messageId"] = message_id
        if data is not None:
            payload["data"] = data
        result = await self._call("DataTransfer", payload)
        return result["status"], result.get("data")

    async def send_security_event(self, kind: str, at: datetime, tech_info: str | None) -> None:
        """SecurityEventNotification (the same message in both versions); ``kind`` in
        2.0.1 words, spelled as :attr:`security_event_names` says for this version."""
        when = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        payload: dict[str, Any] = {
            "type": self.security_event_names.get(kind, kind),
            "timestamp": when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }
        if tech_info:
            payload["techInfo"] = tech_info
        await self._call("SecurityEventNotification", payload)

    def offered_kw(self, connector_id: int) -> float:
        """The power the twin currently offers on a connector (its limit)."""
        connector = self.twin.connector(connector_id)
        return connector.limit_kw if connector is not None else 0.0

    def readings(
        self, sample: MeterSample, measurands: Iterable[str]
    ) -> list[tuple[str, float, int]]:
        """``(measurand, value, decimals)`` for each of ``measurands`` the twin can
        produce, in order (SoC only when the vehicle tells it); each version writes
        them its own way (1.6: strings, 2.0.1: numbers)."""
        readings = []
        for measurand in measurands:
            if measurand == "Energy.Active.Import.Register":
                readings.append((measurand, sample.energy_wh, 1))
            elif measurand == "Power.Active.Import":
                readings.append((measurand, sample.power_w, 1))
            elif measurand == "Energy.Active.Export.Register":
                readings.append((measurand, sample.export_wh or 0.0, 1))
            elif measurand == "Power.Active.Export":
                readings.append((measurand, max(-sample.power_w, 0.0), 1))
            elif measurand == "Current.Import":
                readings.append((measurand, sample.current_a, 2))
            elif measurand == "Voltage":
                readings.append((measurand, sample.voltage_v, 1))
            elif measurand == "SoC":
                if sample.soc is not None:
                    readings.append((measurand, sample.soc, 1))
            elif measurand == "Power.Offered":
                readings.append((measurand, self.offered_kw(sample.connector_id) * 1000.0, 1))
            elif measurand == "Current.Offered":
                offered_w = self.offered_kw(sample.connector_id) * 1000.0
                readings.append((measurand, offered_w / (sample.voltage_v * sample.phases), 2))
        return readings

    # -- CSMS → twin ---------------------------------------------------------------------

    async def serve(self) -> None:
        connection = self._connection
        if connection is None:
            raise ConnectionLost("not connected")
        while True:
            raw = await connection.recv()
            try:
                await self.route_message(raw, connection.last_frame)
            except (ConnectionClosed, ConnectionLost):
                raise
            except Exception:
                logger.exception("%s: error handling %.200s", self.id, raw)

    async def route_message(self, raw_msg: str, frame: Any = None) -> None:
        msg = message_of(frame)
        if msg is None:
            try:
                msg = unpack(raw_msg)
            except OCPPError as error:
                unique_id = unique_id_of(raw_msg)
                if unique_id is not None:
                    logger.warning("%s: malformed frame %.200s: %s", self.id, raw_msg, error)
                    await self._send(self.call_error(unique_id, error))
                return
        if msg.message_type_id == MessageType.Call:
            twin = self.twin
            twin.queue.hold()
            self._deferred = []
            try:
                await self._handle_call(msg)
            except OCPPError as error:
                self._deferred = []
                logger.info("%s: answering %s with %s", self.id, msg.action, error.code)
                await self._send(self.call_error(msg.unique_id, error))
            finally:
                deferred, self._deferred = self._deferred, None
                twin.queue.release()
            self.run_deferred(deferred or [])
        else:
            self._answer(msg)

    async def _handle_call(self, msg: Call) -> Any:
        if msg.action not in self.route_map:
            raise self.unhandled_action(msg.action)
        return await super()._handle_call(msg)  # type: ignore[misc]

    def call_error(self, unique_id: str, error: OCPPError) -> str:
        """The CALLERROR frame for ``error``, its code in this version's spelling and
        its details only if they are plain JSON (never the offending message)."""
        code = self.error_codes.get(error.code, error.code)
        details = error.details if isinstance(error.details, dict) else {}
        details = {k: v for k, v in details.items() if k != "ocpp_message"}
        try:
            json.dumps(details)
        except (TypeError, ValueError):
            details = {}
        return CallError(unique_id, code, error.description, details).to_json()


__all__ = [
    "LOST",
    "OUTGOING_SCHEMAS",
    "InvalidOutgoingCall",
    "OcppJAdapter",
    "OutgoingSchemas",
    "RouteTable",
    "encode_frame",
    "message_of",
    "parse_time",
    "plain",
    "unique_id_of",
]

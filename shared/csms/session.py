"""Behaviour shared by the per-connection classes of both CSMSs.

`CsmsSession` is mixed in front of `ocpp.v16.ChargePoint` / `ocpp.v201.ChargePoint`: the
library owns framing, routing to `@on` handlers and one outstanding call at a time; this adds
the CSMS's bookkeeping and a call that takes and returns payloads exactly as on the wire.
"""

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from uuid import uuid4

from ocpp.charge_point import _raise_key_error
from ocpp.exceptions import OCPPError
from ocpp.messages import (
    Call,
    CallError,
    CallResult,
    MessageType,
    get_validator,
    validate_payload,
)

from shared.csms.certificates import CsrRefused
from shared.csms.connection import LoggingConnection
from shared.csms.frames import (
    call_result_frame,
    check_request,
    snake_case_arguments,
    to_wire,
    unpack,
)
from shared.csms.state import ChargePointRecord, CsmsState, MeterValueRecord

_CONNECTION_LOST = object()
"""Put on the response queue when the websocket closes, so a waiting call ends at once."""

_DECIMAL_SCHEMAS = {
    ("1.6", MessageType.Call, "SetChargingProfile"),
    ("1.6", MessageType.Call, "RemoteStartTransaction"),
    ("1.6", MessageType.CallResult, "GetCompositeSchedule"),
}
"""Schemas the `ocpp` library validates with decimals (see `ocpp.messages._validate_payload`)."""

_MAX_REPORTED_ERRORS = 20


class CallFailed(Exception):
    """A CSMS-initiated call did not produce a valid CALLRESULT."""


class ChargePointDisconnected(CallFailed):
    pass


class CallTimedOut(CallFailed):
    pass


class CallErrorReceived(CallFailed):
    def __init__(self, error: CallError) -> None:
        super().__init__(f"{error.error_code}: {error.error_description}")
        self.error_code: str = error.error_code
        self.error_description: str = error.error_description
        self.error_details: Any = error.error_details


class InvalidCallResult(CallFailed):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


async def schema_errors(
    message_type: int, action: str, payload: dict[str, Any], ocpp_version: str
) -> list[str]:
    """Validate with the `ocpp` library; on failure, list every problem with its path."""
    message: Call | CallResult
    if message_type == MessageType.Call:
        message = Call("validation", action, payload)
    else:
        message = CallResult("validation", payload, action)
    try:
        await validate_payload(message, ocpp_version)
    except OCPPError as error:
        validator = get_validator(message_type, action, ocpp_version)
        if (ocpp_version, message_type, action) in _DECIMAL_SCHEMAS:
            payload = json.loads(json.dumps(payload), parse_float=Decimal)
        errors = [
            f"{'.'.join(str(part) for part in problem.absolute_path) or '(payload)'}: "
            f"{problem.message}"
            for problem in validator.iter_errors(payload)
        ]
        return errors[:_MAX_REPORTED_ERRORS] or [f"{error.code}: {error.details}"]
    return []


class CsmsSession:
    """One websocket connection of a charge point; subclasses hold the `@on` handlers."""

    _ocpp_version: str
    _call_lock: asyncio.Lock
    _response_queue: asyncio.Queue[Any]

    def __init__(
        self,
        charge_point_id: str,
        connection: LoggingConnection,
        state: CsmsState,
        record: ChargePointRecord,
        logger: logging.Logger,
    ) -> None:
        super().__init__(charge_point_id, connection, logger=logger)  # type: ignore[call-arg]
        self.connection = connection
        self.state = state
        self.record = record
        self.payload: dict[str, Any] = {}
        self._follow_ups: list[Callable[[], Awaitable[None]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        """The wire (camelCase) payload of the CALL being handled. Handlers get its top-level
        fields as snake_case keyword arguments and read anything nested from here."""

    async def start(self) -> None:
        """Serve the connection until it closes: the library's loop without its per-frame
        INFO log."""
        receive = self.connection.recv
        while True:
            await self.route_message(await receive())

    async def route_message(self, raw_msg: str) -> None:
        """Answer a CALL, or hand a CALLRESULT / CALLERROR to the waiting `send_call`.

        As the library does, a frame that is not OCPP-J is logged and left unanswered (it
        has no unique id to answer), and an OCPPError raised while handling a CALL becomes
        a CALLERROR.
        """
        try:
            message = unpack(raw_msg)
        except OCPPError as error:
            self.logger.warning(
                "%s: ignoring a frame that is not OCPP-J: %s", self.record.id, error
            )
            return
        if isinstance(message, Call):
            try:
                await self._handle_call(message)
            except OCPPError as error:
                self.logger.warning(
                    "%s: %s for %s: %s", self.record.id, error.code, message.action, error
                )
                await self._send(message.create_call_error(error).to_json())
        else:
            self._response_queue.put_nowait(message)

    async def _handle_call(self, msg: Call) -> None:
        """The library's call handling minus the per-message work that is not needed here.

        Requests are validated against the official schemas by validators compiled once
        (`shared.csms.frames.check_request`), in the event loop rather than a thread (a hop
        per message costs more than validating a small payload); our own answers are built
        from the library's dataclasses by code the tests cover, so they are not validated
        again; `@after` hooks are not supported.
        """
        route = self.route_map.get(msg.action)
        if route is None or "_on_action" not in route:
            _raise_key_error(msg.action, self._ocpp_version)
            return
        if not route["_skip_schema_validation"]:
            check_request(msg, self._ocpp_version)
        self.payload = msg.payload
        try:
            response = route["_on_action"](**snake_case_arguments(msg.payload))
            if inspect.isawaitable(response):
                response = await response
        except Exception as error:
            self.logger.exception("%s: error while handling %s", self.record.id, msg)
            await self._send(msg.create_call_error(error).to_json())
            return
        await self._send(call_result_frame(msg.unique_id, to_wire(response)))
        follow_ups, self._follow_ups = self._follow_ups, []
        for follow_up in follow_ups:
            task = asyncio.create_task(follow_up())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, message: str) -> None:
        await self.connection.send(message)

    async def send_call(
        self, action: str, payload: dict[str, Any], timeout: float
    ) -> tuple[str, dict[str, Any]]:
        """Send a CALL (already validated) and return its unique id and the CALLRESULT payload.

        The timeout covers waiting for an earlier call to be answered, since OCPP allows one
        outstanding call per connection.
        """
        call = Call(str(uuid4()), action, payload)
        try:
            async with asyncio.timeout(timeout), self._call_lock:
                await self._send(call.to_json())
                while True:
                    response = await self._response_queue.get()
                    if response is _CONNECTION_LOST:
                        self._response_queue.put_nowait(_CONNECTION_LOST)
                        raise ChargePointDisconnected(
                            f"{self.record.id} disconnected before answering"
                        )
                    if response.unique_id == call.unique_id:
                        break
        except TimeoutError:
            raise CallTimedOut(
                f"{self.record.id} did not answer {action} within {timeout}s"
            ) from None
        if isinstance(response, CallError):
            raise CallErrorReceived(response)
        result: dict[str, Any] = response.payload
        errors = await schema_errors(MessageType.CallResult, action, result, self._ocpp_version)
        if errors:
            raise InvalidCallResult(errors)
        return call.unique_id, result

    def after_answer(self, follow_up: Callable[[], Awaitable[None]]) -> None:
        """Run ``follow_up()`` (a CALL the answer leads to) once the answer being built is
        on the wire."""
        self._follow_ups.append(follow_up)

    def answer_csr(self, csr: str, certificate_type: str | None = None) -> str:
        """SignCertificate: Accepted when the CSMS has a CA and the CSR is fit to sign; the
        certificate follows the answer in a CertificateSigned."""
        authority = self.state.certificate_authority
        if authority is None:
            self.logger.info("%s: SignCertificate rejected: no CA configured", self.record.id)
            return "Rejected"
        try:
            chain = authority.sign(csr, self.record.id)
        except CsrRefused as error:
            self.logger.warning("%s: SignCertificate rejected: %s", self.record.id, error)
            return "Rejected"
        payload = {"certificateChain": chain}
        if certificate_type is not None:
            payload["certificateType"] = certificate_type
        self.after_answer(lambda: self._send_certificate_signed(payload))
        return "Accepted"

    async def _send_certificate_signed(self, payload: dict[str, Any]) -> None:
        try:
            _, answer = await self.send_call("CertificateSigned", payload, timeout=60)
        except CallFailed as error:
            self.logger.warning("%s: CertificateSigned failed: %s", self.record.id, error)
            return
        self.record.notifications["CertificateSigned"] = answer

    def connection_lost(self) -> None:
        self._response_queue.put_nowait(_CONNECTION_LOST)

    async def close(self, code: int, reason: str) -> None:
        await self.connection.close(code, reason)

    def loose_meter_values(self, meter_values: list[dict[str, Any]], source: str) -> None:
        self.record.meter_values.extend(
            MeterValueRecord.from_wire(value, source) for value in meter_values
        )

    def note(self, action: str) -> None:
        """Keep the latest payload of an informational message on the charge point record."""
        self.record.notifications[action] = self.payload

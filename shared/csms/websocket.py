"""The OCPP websocket endpoint: handshake checks, one session per connection, replacement."""

import binascii
import contextlib
import hmac
import logging
from base64 import b64decode
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from shared.csms.certificates import client_common_name
from shared.csms.connection import LoggingConnection
from shared.csms.session import CsmsSession
from shared.csms.state import ChargePointRecord, CsmsState

SessionFactory = Callable[
    [str, LoggingConnection, CsmsState, ChargePointRecord, logging.Logger], CsmsSession
]


@dataclass(frozen=True, slots=True)
class Dialect:
    """One OCPP version a CSMS speaks: the websocket subprotocol that selects it, the
    session class that handles its connections, and the CALLs the CSMS may send in it."""

    ocpp_version: str
    subprotocol: str
    session_factory: SessionFactory
    csms_initiated_actions: frozenset[str]


CLOSE_PROTOCOL_ERROR = 1002
CLOSE_POLICY_VIOLATION = 1008
CLOSE_REPLACED = 4000
"""Application close code for a connection superseded by a newer one with the same id."""


def basic_auth(header: str | None) -> tuple[str | None, str | None]:
    """The user and password of an `Authorization: Basic ...` header, or (None, None)."""
    if not header:
        return None, None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = b64decode(encoded.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None, None
    user, _, password = decoded.partition(":")
    return user, password


def create_ocpp_endpoint(
    state: CsmsState, dialects: Sequence[Dialect], logger: logging.Logger
) -> Callable[[WebSocket, str], Awaitable[None]]:
    spoken = " or ".join(d.subprotocol for d in dialects)

    async def ocpp_endpoint(websocket: WebSocket, charge_point_id: str) -> None:
        user, password = basic_auth(websocket.headers.get("authorization"))
        expected = state.settings.charge_point_passwords.get(charge_point_id)
        if expected is not None and not (
            user == charge_point_id
            and hmac.compare_digest((password or "").encode(), expected.encode())
        ):
            logger.warning("%s: refused, wrong or missing basic-auth credentials", charge_point_id)
            await _deny(websocket, 401, "Wrong or missing basic-auth credentials")
            return

        common_name = client_common_name(websocket.scope)
        if common_name is not None and common_name != charge_point_id:
            logger.warning(
                "%s: refused, its client certificate names %r", charge_point_id, common_name
            )
            await _deny(
                websocket,
                403,
                f"The client certificate's CN {common_name!r} is not the charge point "
                f"identity {charge_point_id!r} (security profile 3)",
            )
            return

        offered = websocket.scope.get("subprotocols", [])
        dialect = next((d for d in dialects if d.subprotocol in offered), None)
        if dialect is None:
            # OCPP-J: complete the handshake without a subprotocol, then close at once.
            await websocket.accept()
            await websocket.close(
                CLOSE_PROTOCOL_ERROR,
                f"This CSMS speaks only the {spoken} subprotocol, offered: {offered}",
            )
            return

        subprotocol = dialect.subprotocol
        await websocket.accept(subprotocol=subprotocol)
        record = state.charge_point(charge_point_id)
        session = dialect.session_factory(
            charge_point_id,
            LoggingConnection(websocket, record.messages, state.events, charge_point_id),
            state,
            record,
            logger,
        )
        previous = record.session
        record.attach(session, subprotocol, user, password)
        state.events.connection(charge_point_id, True, subprotocol)
        if previous is not None:
            await _replace(previous, charge_point_id, logger)
        try:
            await session.start()  # type: ignore[attr-defined]
        except WebSocketDisconnect:
            pass
        except RuntimeError:
            if websocket.application_state != WebSocketState.DISCONNECTED:
                raise
        finally:
            session.connection_lost()
            record.detach(session)
            if record.session is None:
                state.events.connection(charge_point_id, False, subprotocol)

    return ocpp_endpoint


async def _replace(previous: CsmsSession, charge_point_id: str, logger: logging.Logger) -> None:
    logger.info("%s: reconnected, closing the previous connection", charge_point_id)
    previous.connection_lost()
    with contextlib.suppress(RuntimeError):
        await previous.close(CLOSE_REPLACED, "Replaced by a new connection with the same id")


async def _deny(websocket: WebSocket, status_code: int, reason: str) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        headers = {"WWW-Authenticate": 'Basic realm="OCPP"'} if status_code == 401 else None
        await websocket.send_denial_response(
            Response(reason, status_code=status_code, headers=headers)
        )
    else:
        await websocket.close(CLOSE_POLICY_VIOLATION, reason)

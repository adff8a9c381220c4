"""The HTTP API both test CSMSs share, mounted under `/api`."""

from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status
from fastapi.sse import EventSourceResponse
from ocpp.messages import MessageType

from shared.csms.events import CsmsSubscription
from shared.csms.schemas import (
    CallPublic,
    ChargePointPublic,
    ChargePointsPublic,
    MessagesPublic,
    TransactionDetail,
    TransactionPublic,
    TransactionsPublic,
)
from shared.csms.session import (
    CallErrorReceived,
    CallTimedOut,
    ChargePointDisconnected,
    InvalidCallResult,
    schema_errors,
)
from shared.csms.settings import CsmsSettingsPublic, CsmsSettingsUpdate
from shared.csms.state import ChargePointRecord, CsmsState
from shared.csms.websocket import Dialect
from shared.schemas.common import JsonObject
from shared.schemas.event import CSMS_EVENT_KINDS, CsmsEventPublic, parse_kinds


def get_state(request: Request) -> CsmsState:
    state: CsmsState = request.app.state.csms
    return state


StateDep = Annotated[CsmsState, Depends(get_state)]


def get_charge_point(state: StateDep, charge_point_id: str) -> ChargePointRecord:
    record = state.charge_points.get(charge_point_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Unknown charge point {charge_point_id!r}")
    return record


ChargePointDep = Annotated[ChargePointRecord, Depends(get_charge_point)]


STREAM_DESCRIPTION = f"""
A server-sent event stream (`text/event-stream`) of what this CSMS exchanges with its
charge points, as it happens: one `data:` line per event, a JSON object whose `kind` is
{", ".join(f"`{kind}`" for kind in CSMS_EVENT_KINDS)} or `dropped` (a viewer too slow to
read lost `count` events there; the CSMS never waits for it). `?kinds=frame` keeps only
those kinds. A comment line (`: ping`) keeps an idle stream open every 15 s.

    curl -N http://localhost:9000/api/events
"""

STREAM_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"description": "An unknown kind in `kinds`"},
}


def get_kinds(
    kinds: Annotated[
        str | None,
        Query(
            description="Comma-separated kinds to stream (default: all): "
            + ", ".join(CSMS_EVENT_KINDS),
            max_length=100,
        ),
    ] = None,
) -> frozenset[str] | None:
    try:
        return parse_kinds(kinds, CSMS_EVENT_KINDS)
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None


KindsDep = Annotated[frozenset[str] | None, Depends(get_kinds)]


async def all_events(state: StateDep, kinds: KindsDep) -> AsyncIterator[CsmsSubscription]:
    subscription = state.events.subscribe(None, kinds)
    try:
        yield subscription
    finally:
        state.events.unsubscribe(subscription)


async def charge_point_events(
    state: StateDep, kinds: KindsDep, charge_point_id: str
) -> AsyncIterator[CsmsSubscription]:
    subscription = state.events.subscribe(charge_point_id, kinds)
    try:
        yield subscription
    finally:
        state.events.unsubscribe(subscription)


def create_api_router(dialects: Sequence[Dialect]) -> APIRouter:
    router = APIRouter()
    by_version = {d.ocpp_version: d.csms_initiated_actions for d in dialects}
    csms_initiated_actions = frozenset().union(*by_version.values())
    ocpp_version = " / ".join(by_version)

    @router.get("/charge-points", tags=["charge points"])
    def list_charge_points(state: StateDep) -> ChargePointsPublic:
        data = [ChargePointPublic.of(record) for record in state.charge_points.values()]
        return ChargePointsPublic(data=data, count=len(data))

    @router.get("/charge-points/{charge_point_id}", tags=["charge points"])
    def read_charge_point(record: ChargePointDep) -> ChargePointPublic:
        return ChargePointPublic.of(record)

    @router.get("/charge-points/{charge_point_id}/messages", tags=["charge points"])
    def read_messages(
        record: ChargePointDep,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    ) -> MessagesPublic:
        """The charge point's OCPP-J frames, oldest first; directions as seen by the CSMS."""
        return MessagesPublic.page(record.messages, offset, limit)

    @router.get(
        "/events",
        tags=["live events"],
        response_class=EventSourceResponse,
        responses=STREAM_ERRORS,
        summary="Live frames and connections of every charge point (server-sent events)",
        description=STREAM_DESCRIPTION,
    )
    async def stream_all(
        subscription: Annotated[CsmsSubscription, Depends(all_events)],
    ) -> AsyncIterator[CsmsEventPublic]:
        async for event in subscription:
            yield event

    @router.get(
        "/charge-points/{charge_point_id}/events",
        tags=["live events"],
        response_class=EventSourceResponse,
        responses=STREAM_ERRORS,
        summary="Live frames and connections of one charge point (server-sent events)",
        description=STREAM_DESCRIPTION
        + "\nAny charge point id may be watched, also one that has not connected yet.",
    )
    async def stream_charge_point(
        subscription: Annotated[CsmsSubscription, Depends(charge_point_events)],
    ) -> AsyncIterator[CsmsEventPublic]:
        async for event in subscription:
            yield event

    @router.post(
        "/charge-points/{charge_point_id}/calls/{action}",
        tags=["calls"],
        responses={
            400: {"description": f"Not a CSMS-initiated action of OCPP {ocpp_version}"},
            404: {"description": "The charge point is not connected"},
            422: {"description": "The payload does not match the OCPP schema; nothing sent"},
            502: {"description": "The charge point answered CALLERROR or an invalid payload"},
            504: {"description": "No answer within the timeout"},
        },
    )
    async def send_call(
        state: StateDep,
        charge_point_id: str,
        action: str,
        payload: Annotated[JsonObject | None, Body()] = None,
        timeout: Annotated[float, Query(gt=0, le=3_600)] = 30.0,
    ) -> CallPublic:
        """Send a CALL with `payload` exactly as on the wire and answer the CALLRESULT payload."""
        if action not in csms_initiated_actions:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                f"{action!r} is not a CSMS-initiated action of OCPP {ocpp_version}; "
                f"supported: {', '.join(sorted(csms_initiated_actions))}",
            )
        record = state.charge_points.get(charge_point_id)
        session = record.session if record is not None else None
        if session is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"Charge point {charge_point_id!r} is not connected"
            )
        version = session._ocpp_version
        if action not in by_version[version]:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                f"{action!r} is not a CSMS-initiated action of OCPP {version}, which "
                f"{charge_point_id} speaks; supported: {', '.join(sorted(by_version[version]))}",
            )
        request = payload or {}
        errors = await schema_errors(MessageType.Call, action, request, version)
        if errors:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                {"message": f"Invalid {action} payload, nothing was sent", "errors": errors},
            )
        try:
            unique_id, response = await session.send_call(action, request, timeout)
        except CallErrorReceived as error:
            raise HTTPException(
                status.HTTP_502_BAD_GATEWAY,
                {
                    "message": f"{charge_point_id} answered CALLERROR",
                    "error_code": error.error_code,
                    "error_description": error.error_description,
                    "error_details": error.error_details,
                },
            ) from None
        except InvalidCallResult as error:
            raise HTTPException(
                status.HTTP_502_BAD_GATEWAY,
                {
                    "message": f"{charge_point_id} answered an invalid payload",
                    "errors": error.errors,
                },
            ) from None
        except ChargePointDisconnected as error:
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, {"message": str(error)}) from None
        except CallTimedOut as error:
            raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, {"message": str(error)}) from None
        return CallPublic(action=action, unique_id=unique_id, request=request, response=response)

    @router.get("/transactions", tags=["transactions"])
    def list_transactions(
        state: StateDep, charge_point_id: str | None = None
    ) -> TransactionsPublic:
        data = [
            TransactionPublic.of(transaction)
            for transaction in state.find_transactions(charge_point_id=charge_point_id)
        ]
        return TransactionsPublic(data=data, count=len(data))

    @router.get(
        "/transactions/{transaction_id}",
        tags=["transactions"],
        responses={409: {"description": "Two charge points use this id; name one"}},
    )
    def read_transaction(
        state: StateDep, transaction_id: str, charge_point_id: str | None = None
    ) -> TransactionDetail:
        found = state.find_transactions(transaction_id, charge_point_id)
        if not found:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"Unknown transaction {transaction_id!r}"
            )
        if len(found) > 1:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"Transaction id {transaction_id!r} is used by charge points "
                f"{sorted(t.charge_point_id for t in found)}; add ?charge_point_id=",
            )
        return TransactionDetail.of(found[0])

    @router.get("/settings", tags=["settings"])
    def read_settings(state: StateDep) -> CsmsSettingsPublic:
        return CsmsSettingsPublic.of(state.settings)

    @router.put("/settings", tags=["settings"])
    def update_settings(state: StateDep, update: CsmsSettingsUpdate) -> CsmsSettingsPublic:
        """Change only the fields sent; they apply to the next messages and boots."""
        state.update_settings(update)
        return CsmsSettingsPublic.of(state.settings)

    return router

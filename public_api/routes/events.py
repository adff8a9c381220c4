"""Live events of the user's twins as server-sent events (``text/event-stream``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.sse import EventSourceResponse

from public_api.deps import EventSourceDep, StreamUser
from shared.crud.ownership import get_owned
from shared.db import session_for
from shared.errors import Unprocessable
from shared.models import ChargePoint
from shared.schemas.event import EVENT_KINDS, TwinEventPublic, parse_kinds
from worker.live import Subscription

router = APIRouter(tags=["live events"])

STREAM_DESCRIPTION = f"""
A server-sent event stream (`text/event-stream`) of what the twins do, as it happens.
Each event is one `data:` line holding a JSON object whose `kind` says what it is
({", ".join(f"`{kind}`" for kind in EVENT_KINDS)}, and `dropped`); see the schemas
in this answer. A comment line (`: ping`) keeps an idle stream open every 15 s.

Authenticate with `Authorization: Bearer <token>`, or `?token=<token>` for browser
`EventSource` clients, which cannot send headers. `?kinds=frame,connector` keeps only
those kinds. A viewer that reads too slowly loses events (the twins never wait for
it): a `dropped` event then says how many it missed at that point.

    curl -N -H "Authorization: Bearer $TOKEN" http://localhost:8000/twin/events
"""

STREAM_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or expired token"},
    404: {"description": "No charge point of yours has this id"},
    422: {"description": "An unknown kind in `kinds`, or a malformed id"},
    503: {"description": "This API runs without a twin host or Redis to stream from"},
}


def get_kinds(
    kinds: Annotated[
        str | None,
        Query(
            description="Comma-separated kinds to stream (default: all): " + ", ".join(EVENT_KINDS),
            examples=["frame,connector"],
            max_length=200,
        ),
    ] = None,
) -> frozenset[str] | None:
    try:
        return parse_kinds(kinds, EVENT_KINDS)
    except ValueError as error:
        raise Unprocessable(str(error), code="invalid_request") from None


KindsDep = Annotated[frozenset[str] | None, Depends(get_kinds)]


async def user_events(
    source: EventSourceDep, user: StreamUser, kinds: KindsDep
) -> AsyncIterator[Subscription]:
    """The subscription exists before the answer starts, and ends with the stream."""
    subscription = await source.subscribe(user.id, None, kinds)
    try:
        yield subscription
    finally:
        await source.unsubscribe(subscription)


def owned_charge_point(request: Request, user: StreamUser, id: uuid.UUID) -> uuid.UUID:
    """The id of the user's charge point (404 for a stranger's or an unknown one), read in
    a worker thread and a session of its own, as for the stream's user."""
    with session_for(request.app.state.engine) as session:
        get_owned(session, ChargePoint, id, user)
    return id


async def charge_point_events(
    source: EventSourceDep,
    user: StreamUser,
    kinds: KindsDep,
    charge_point_id: Annotated[uuid.UUID, Depends(owned_charge_point)],
) -> AsyncIterator[Subscription]:
    subscription = await source.subscribe(user.id, str(charge_point_id), kinds)
    try:
        yield subscription
    finally:
        await source.unsubscribe(subscription)


@router.get(
    "/twin/events",
    response_class=EventSourceResponse,
    responses=STREAM_ERRORS,
    summary="Live events of all your charge points (server-sent events)",
    description=STREAM_DESCRIPTION,
)
async def stream_all(
    subscription: Annotated[Subscription, Depends(user_events)],
) -> AsyncIterator[TwinEventPublic]:
    async for event in subscription:
        yield event


@router.get(
    "/twin/charge-point/{id}/events",
    response_class=EventSourceResponse,
    responses=STREAM_ERRORS,
    summary="Live events of one charge point (server-sent events)",
    description=STREAM_DESCRIPTION,
)
async def stream_charge_point(
    subscription: Annotated[Subscription, Depends(charge_point_events)],
) -> AsyncIterator[TwinEventPublic]:
    async for event in subscription:
        yield event

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import PlainTextResponse

from public_api.deps import CurrentUser, SessionDep
from shared.schemas.fleet import FleetCreate, FleetPublic, FleetSummary
from worker.fleet.manager import FleetManager

router = APIRouter(prefix="/twin/fleet", tags=["fleets"])

Timeout = Annotated[
    float,
    Query(
        gt=0,
        le=3600,
        description="seconds to wait for the fleet to stop; it goes on stopping after that",
    ),
]


def _fleets(request: Request) -> FleetManager:
    return request.app.state.fleets


@router.post(
    "/",
    summary="Create a fleet of charge points and vehicles and run its scenario",
    responses={
        403: {"description": "over quota: nothing was created"},
        409: {"description": "a charge point identity is already used"},
        503: {"description": "no twin host is running"},
    },
)
def create(
    request: Request, session: SessionDep, current_user: CurrentUser, body: FleetCreate
) -> FleetPublic:
    return _fleets(request).create(session, current_user, body)


@router.get("/", summary="List your fleets")
def read_all(request: Request, session: SessionDep, current_user: CurrentUser) -> list[FleetPublic]:
    return _fleets(request).list(session, current_user)


@router.get("/{id:uuid}", summary="Progress and counts, live while the fleet runs")
def read(
    request: Request, session: SessionDep, current_user: CurrentUser, id: uuid.UUID
) -> FleetPublic:
    return _fleets(request).read(session, current_user, id)


@router.get("/{id:uuid}/summary", summary="The figures of the run, with the arrivals drawn")
def summary(
    request: Request, session: SessionDep, current_user: CurrentUser, id: uuid.UUID
) -> FleetSummary:
    return _fleets(request).summary(session, current_user, id)


class CsvResponse(PlainTextResponse):
    media_type = "text/csv"


@router.get(
    "/{id:uuid}/latency.csv",
    summary="Histograms of the CSMS's response times per action (CSV: action, le_ms, count)",
    response_class=CsvResponse,
)
def latency_csv(
    request: Request, session: SessionDep, current_user: CurrentUser, id: uuid.UUID
) -> CsvResponse:
    return CsvResponse(_fleets(request).latency_csv(session, current_user, id))


@router.post(
    "/{id:uuid}/stop",
    summary="End the sessions towards the CSMS, unplug and disconnect",
    responses={409: {"description": "the fleet is not run by this API process"}},
)
def stop(
    request: Request,
    session: SessionDep,
    current_user: CurrentUser,
    id: uuid.UUID,
    timeout: Timeout = 5,
) -> FleetPublic:
    return _fleets(request).stop(session, current_user, id, timeout)


@router.delete(
    "/{id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop the fleet if it runs, and delete its charge points and vehicles",
)
def delete(
    request: Request,
    session: SessionDep,
    current_user: CurrentUser,
    id: uuid.UUID,
    timeout: Timeout = 60,
) -> None:
    _fleets(request).delete(session, current_user, id, timeout)

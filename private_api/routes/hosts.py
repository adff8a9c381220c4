from __future__ import annotations

from fastapi import APIRouter

from private_api.deps import OperatorKey, SessionDep
from shared.crud import hosts as crud
from shared.schemas.common import Limit, Offset, Page, Text
from shared.schemas.host import HostedChargePoint, TwinHostPublic

router = APIRouter(tags=["hosts"])


@router.get("/hosts", summary="The processes that host twins, and how many each runs")
def read_hosts(_: OperatorKey, session: SessionDep) -> list[TwinHostPublic]:
    return crud.list_hosts(session)


@router.get("/charge-points", summary="Every user's charge points and where their twins run")
def read_charge_points(
    _: OperatorKey,
    session: SessionDep,
    host: Text | None = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Page[HostedChargePoint]:
    rows, count = crud.list_hosted_charge_points(session, offset, limit, host)
    return Page(data=[HostedChargePoint.model_validate(row) for row in rows], count=count)

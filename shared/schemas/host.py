from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from shared.schemas.common import ORMModel


class HostedTwin(BaseModel):
    id: uuid.UUID
    cid: str


class TwinHostPublic(BaseModel):
    """A process that hosts twins (the embedded process or a Celery worker).

    ``alive`` while its lease lasts (it renews it with every heartbeat);
    ``status`` is running, draining (handing its twins over) or stopped.
    """

    name: str
    pid: int | None
    status: str
    started_at: datetime
    heartbeat_at: datetime
    lease_expires_at: datetime | None
    alive: bool
    twin_count: int
    twins: list[HostedTwin]


class HostedChargePoint(ORMModel):
    """Where a charge point's twin runs, for operators."""

    id: uuid.UUID
    cid: str
    user_id: uuid.UUID
    ocpp_protocol: str
    host: str | None
    desired_state: str
    connected: bool
    status: str

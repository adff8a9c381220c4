from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from shared.schemas.common import ORMModel


class TwinHostPublic(BaseModel):
    """A process that hosts twins; ``alive`` when it reported within the last minute."""

    name: str
    started_at: datetime
    heartbeat_at: datetime
    alive: bool
    charge_points: int


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

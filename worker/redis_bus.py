"""Distributed mode's command bus: Celery carries a command to the worker hosting its
twin, Redis pub/sub carries the outcome back to the API that waits for it.

The API places the twin first (:func:`worker.leases.place`: the live worker with
the fewest twins, when the twin has no live host), sends the ``elu.run_command``
task to that worker's own queue (``host.<name>``), and waits on the command's
channel. A command for a twin whose worker is draining waits, stored, for the
worker that takes the twin over: that one carries out the pending commands of
each twin it takes. The worker stores the outcome on the command row and publishes it; the
API reads the row once when the message arrives (or when it stops waiting): it
never polls the database.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import redis
from celery import Celery
from sqlalchemy import Engine

from shared.db import session_for
from shared.errors import ServiceUnavailable
from shared.models import Command
from worker import leases
from worker.commands import GRACE


def outcome_channel(command_id: uuid.UUID | str) -> str:
    return f"elu:command:{command_id}"


def host_queue(host: str) -> str:
    """The Celery queue only the named twin host consumes."""
    return f"host.{host}"


def send_to_host(celery: Celery, host: str, task: str, arguments: dict[str, Any]) -> None:
    """Send ``elu.<task>`` to one twin host's queue."""
    celery.send_task(f"elu.{task}", kwargs=arguments, queue=host_queue(host))


def publish_outcome(client: redis.Redis, command_id: uuid.UUID, outcome: dict[str, Any]) -> None:
    client.publish(outcome_channel(command_id), json.dumps(outcome, default=str))


class RedisBus:
    def __init__(self, engine: Engine, client: redis.Redis, celery: Celery) -> None:
        self.engine = engine
        self.redis = client
        self.celery = celery

    def dispatch(self, command: Command, timeout: float) -> None:
        subscription = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            subscription.subscribe(outcome_channel(command.id))
        except redis.RedisError as error:
            raise ServiceUnavailable(
                f"Redis is not reachable ({error}): start it, or check ELU_REDIS_URL",
                code="no_redis",
            ) from error
        try:
            with session_for(self.engine) as session:
                placement = leases.place(session, command.charge_point_id)
            if not placement.draining:  # else the twin's next host finds the command
                send_to_host(
                    self.celery, placement.host, "run_command", {"command_id": str(command.id)}
                )
            deadline = time.monotonic() + timeout + GRACE
            while (remaining := deadline - time.monotonic()) > 0:
                if subscription.get_message(timeout=remaining) is not None:
                    return
        finally:
            subscription.close()

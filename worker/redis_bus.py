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
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import redis
from celery import Celery
from sqlalchemy import Engine

from shared.db import session_for
from shared.errors import ServiceUnavailable
from shared.models import Command
from worker import leases
from worker.commands import GRACE, bulk_deadline, pacing


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

    def _subscribe(self, *channels: str) -> redis.client.PubSub:
        subscription = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            subscription.subscribe(*channels)
        except redis.RedisError as error:
            subscription.close()
            raise ServiceUnavailable(
                f"Redis is not reachable ({error}): start it, or check ELU_REDIS_URL",
                code="no_redis",
            ) from error
        return subscription

    def dispatch(self, command: Command, timeout: float) -> None:
        subscription = self._subscribe(outcome_channel(command.id))
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

    def dispatch_many(
        self, commands: Sequence[Command], timeout: float, rate: float | None
    ) -> None:
        """One ``elu.run_commands`` task per host with its share of the commands, each with
        its delay in the paced order of the whole request; one subscription hears all
        the outcomes."""
        waiting = {outcome_channel(command.id) for command in commands}
        subscription = self._subscribe(*waiting)
        try:
            with session_for(self.engine) as session:
                placements = leases.place_many(session, {c.charge_point_id for c in commands})
            shares: dict[str, dict[str, list[Any]]] = defaultdict(
                lambda: {"command_ids": [], "delays": []}
            )
            for command, delay in zip(commands, pacing(len(commands), rate), strict=True):
                placement = placements.get(command.charge_point_id)
                if placement is not None and not placement.draining:
                    shares[placement.host]["command_ids"].append(str(command.id))
                    shares[placement.host]["delays"].append(delay)
            for host, share in shares.items():
                send_to_host(self.celery, host, "run_commands", share)
            deadline = time.monotonic() + bulk_deadline(len(commands), timeout, rate)
            while waiting and (remaining := deadline - time.monotonic()) > 0:
                message = subscription.get_message(timeout=remaining)
                if message is not None:
                    waiting.discard(message["channel"].decode())
        finally:
            subscription.close()

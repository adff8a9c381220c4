"""Commands: how an API call reaches the twin it acts on.

The API stores a :class:`~shared.models.Command` row (durable: a host that
takes the twin over finds it), hands it to a :class:`CommandBus`, and waits up
to the caller's timeout for the outcome that the host stores on the row.
The embedded process uses :class:`InProcessBus`; distributed mode uses
:class:`worker.distributed.RedisBus`, which sends the command to the Celery
worker that hosts the twin and hears the outcome through Redis.

A command that the API gave up on while it still waited for its twin is marked
timed out, so that no host carries it out later behind the caller's back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.errors import (
    BadGateway,
    Conflict,
    DomainError,
    Forbidden,
    GatewayTimeout,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
)
from shared.models import Command
from shared.models.base import utcnow
from worker.host import Host

#: Seconds the API waits beyond the command's own timeout for the host to record it.
GRACE = 2.0


class CommandBus(Protocol):
    def dispatch(self, command: Command, timeout: float) -> None:
        """Deliver the stored command to its twin's host and block until it has an outcome
        or ``timeout`` seconds have passed; raises a DomainError if it cannot be delivered."""

    def dispatch_many(
        self, commands: Sequence[Command], timeout: float, rate: float | None
    ) -> None:
        """Deliver many stored commands (a bulk action) to their twins' hosts, begun ``rate``
        per second (None: all at once), and block until all have an outcome or the time
        for them has passed (:func:`bulk_deadline`); raises a DomainError if none can be
        delivered."""


def pacing(count: int, rate: float | None) -> list[float]:
    """Seconds after the start at which each of ``count`` commands begins, ``rate`` per
    second (None: all at once)."""
    return [index / rate if rate else 0.0 for index in range(count)]


def bulk_deadline(count: int, timeout: float, rate: float | None) -> float:
    """Seconds the API waits for ``count`` commands begun ``rate`` per second, each of which
    may take ``timeout`` once begun."""
    pacing = count / rate if rate else 0.0
    return pacing + timeout + GRACE


class InProcessBus:
    """Runs commands on a host whose loop runs in this process (maybe another thread)."""

    def __init__(self, host: Host, loop: asyncio.AbstractEventLoop) -> None:
        self.host = host
        self.loop = loop

    def dispatch(self, command: Command, timeout: float) -> None:
        future = asyncio.run_coroutine_threadsafe(self.host.execute(command.id), self.loop)
        try:
            future.result(timeout + GRACE)
        except concurrent.futures.TimeoutError:
            future.cancel()

    def dispatch_many(
        self, commands: Sequence[Command], timeout: float, rate: float | None
    ) -> None:
        ids = [command.id for command in commands]
        future = asyncio.run_coroutine_threadsafe(
            self.host.execute_many(ids, pacing(len(ids), rate)), self.loop
        )
        with contextlib.suppress(concurrent.futures.TimeoutError):
            future.result(bulk_deadline(len(ids), timeout, rate))


def run_command(
    session: Session,
    bus: CommandBus,
    *,
    charge_point_id: uuid.UUID,
    user_id: uuid.UUID | None,
    name: str,
    arguments: dict[str, Any],
    timeout: float,
) -> dict[str, Any]:
    """Store a command, have it carried out, and return its result or raise what went wrong."""
    command = Command(
        charge_point_id=charge_point_id,
        user_id=user_id,
        name=name,
        arguments=arguments,
        timeout_seconds=timeout,
    )
    session.add(command)
    session.commit()
    try:
        bus.dispatch(command, timeout)
    except DomainError as error:
        _give_up(session, command, "failed", error.code or "undeliverable", error.message)
        raise
    session.refresh(command)
    if command.status == "pending":
        _give_up(
            session,
            command,
            "timed_out",
            "timeout",
            f"{command.name} did not reach its twin within {timeout:g} s",
        )
        session.refresh(command)
    if command.status == "succeeded":
        return command.result or {}
    raise command_error(command)


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """One command of a bulk action: what to do to which twin."""

    charge_point_id: uuid.UUID
    name: str
    arguments: dict[str, Any]


def run_commands(
    session: Session,
    bus: CommandBus,
    *,
    user_id: uuid.UUID | None,
    requests: Sequence[CommandRequest],
    timeout: float,
    rate: float | None,
) -> list[dict[str, Any] | DomainError]:
    """Store many commands in one transaction, have them carried out together, and return,
    in order, each one's result or what went wrong with it (as :func:`run_command` would
    have raised it). Raises only when the bus could deliver none of them."""
    commands = [
        Command(
            charge_point_id=request.charge_point_id,
            user_id=user_id,
            name=request.name,
            arguments=request.arguments,
            timeout_seconds=timeout,
        )
        for request in requests
    ]
    if not commands:
        return []
    session.add_all(commands)
    session.commit()
    ids = [command.id for command in commands]
    try:
        bus.dispatch_many(commands, timeout, rate)
    except DomainError as error:
        _give_up_many(session, ids, "failed", error.code or "undeliverable", error.message)
        raise
    _give_up_many(
        session,
        ids,
        "timed_out",
        "timeout",
        f"the command did not reach its twin within {timeout:g} s",
    )
    stored = {
        command.id: command
        for command in session.scalars(
            select(Command).where(Command.id.in_(ids)).execution_options(populate_existing=True)
        )
    }
    return [
        (stored[id].result or {}) if stored[id].status == "succeeded" else command_error(stored[id])
        for id in ids
    ]


def _give_up_many(
    session: Session, ids: list[uuid.UUID], status: str, code: str, message: str
) -> None:
    """End the commands no host has claimed yet (a host that claims one first wins)."""
    session.execute(
        update(Command)
        .where(Command.id.in_(ids), Command.status == "pending")
        .values(status=status, error_code=code, error_message=message, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()


def _give_up(session: Session, command: Command, status: str, code: str, message: str) -> None:
    """End a command no host has claimed yet (a host that claims it first wins)."""
    session.execute(
        update(Command)
        .where(Command.id == command.id, Command.status == "pending")
        .values(status=status, error_code=code, error_message=message, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()


_ERRORS: dict[str, type[DomainError]] = {
    "not_connected": Conflict,
    "csms_unreachable": BadGateway,
    "invalid_state": Conflict,
    "rejected": Forbidden,
    "unknown_target": NotFound,
    "timeout": GatewayTimeout,
    "invalid_request": Unprocessable,
    "no_host": ServiceUnavailable,
    "host_died": ServiceUnavailable,
    "host_restarted": ServiceUnavailable,
}


def command_error(command: Command) -> DomainError:
    if command.status in ("pending", "running"):
        return GatewayTimeout(
            f"{command.name} did not finish within {command.timeout_seconds:g} s "
            f"(command {command.id} is still {command.status})",
            code="timeout",
        )
    code = command.error_code or "internal"
    error_type = _ERRORS.get(code, DomainError)
    error = error_type(command.error_message or f"{command.name} failed", code=code)
    if error_type is DomainError:
        error.status_code = 500
    return error

"""Display messages of an OCPP 2.0.1 charging station (functional block O).

The CSMS sets messages (SetDisplayMessage), asks which it has (GetDisplayMessages)
and removes them (ClearDisplayMessage). A message has an id (setting the same id
again replaces it), a priority, optionally a state of the station in which it is
shown, a time window, and a transaction it belongs to.

What the twin decides where the specification leaves it open:

* A message whose ``endDateTime`` has passed is removed (O01: "after this
  date/time this message SHALL be removed"); so is one bound to a transaction
  once that transaction has ended. Both are pruned whenever messages are read.
* Every MessageStateEnumType state is supported; a message with a state is shown
  only while the station is in it (Charging: a transaction is charging; Faulted:
  the station or a connector is faulted; Unavailable: the station or every
  connector is unavailable; Idle: otherwise).
* What is shown now (:meth:`DisplayMessages.shown`) is the messages whose window
  and state apply, AlwaysFront first, then InFront, then NormalCycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from worker.twin.smart_charging import format_time
from worker.twin.wire import parse_time

PRIORITIES = ("AlwaysFront", "InFront", "NormalCycle")
STATES = ("Charging", "Faulted", "Idle", "Unavailable")
FORMATS = ("ASCII", "HTML", "URI", "UTF8")

SetStatus = Literal[
    "Accepted",
    "NotSupportedMessageFormat",
    "Rejected",
    "NotSupportedPriority",
    "NotSupportedState",
    "UnknownTransaction",
]


@dataclass(slots=True)
class DisplayMessage:
    """One MessageInfoType, as the twin keeps it (camelCase parts as on the wire)."""

    id: int
    priority: str
    message: dict[str, Any]
    state: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    transaction_id: str | None = None
    display: dict[str, Any] | None = None

    @classmethod
    def from_wire(cls, info: dict[str, Any]) -> DisplayMessage:
        """From a MessageInfoType as the library hands it (snake_case keys)."""
        content = info["message"]
        message = {"format": content["format"], "content": content["content"]}
        if content.get("language"):
            message["language"] = content["language"]
        display = info.get("display")
        return cls(
            id=int(info["id"]),
            priority=info["priority"],
            message=message,
            state=info.get("state"),
            start=_aware(info.get("start_date_time")),
            end=_aware(info.get("end_date_time")),
            transaction_id=info.get("transaction_id"),
            display=_camel_component(display) if display else None,
        )

    def to_wire(self) -> dict[str, Any]:
        """The MessageInfoType (camelCase), as in NotifyDisplayMessages."""
        out: dict[str, Any] = {"id": self.id, "priority": self.priority, "message": self.message}
        if self.state is not None:
            out["state"] = self.state
        if self.start is not None:
            out["startDateTime"] = format_time(self.start)
        if self.end is not None:
            out["endDateTime"] = format_time(self.end)
        if self.transaction_id is not None:
            out["transactionId"] = self.transaction_id
        if self.display is not None:
            out["display"] = self.display
        return out

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> DisplayMessage:
        return cls(
            id=int(data["id"]),
            priority=data["priority"],
            message=dict(data["message"]),
            state=data.get("state"),
            start=parse_time(data.get("startDateTime")),
            end=parse_time(data.get("endDateTime")),
            transaction_id=data.get("transactionId"),
            display=data.get("display"),
        )


def _aware(text: str | None) -> datetime | None:
    """A date-time from the wire, UTC when it names no zone; ValueError if unreadable."""
    if text is None:
        return None
    when = parse_time(text)
    if when is None:
        raise ValueError(f"not a date-time: {text!r}")
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _camel_component(component: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": component["name"]}
    if component.get("instance"):
        out["instance"] = component["instance"]
    evse = component.get("evse")
    if evse:
        out["evse"] = {"id": evse["id"]}
        if evse.get("connector_id") is not None:
            out["evse"]["connectorId"] = evse["connector_id"]
    return out


class DisplayMessages:
    """The messages one twin holds, by id."""

    __slots__ = ("_messages",)

    def __init__(self) -> None:
        self._messages: dict[int, DisplayMessage] = {}

    def __len__(self) -> int:
        return len(self._messages)

    def set(
        self,
        message: DisplayMessage,
        *,
        formats: tuple[str, ...],
        priorities: tuple[str, ...],
        capacity: int,
        transaction_ongoing: Callable[[str], bool],
    ) -> SetStatus:
        """Store ``message`` (replacing one with its id) or say why not (O01-O03)."""
        if message.message["format"] not in formats:
            return "NotSupportedMessageFormat"
        if message.priority not in priorities:
            return "NotSupportedPriority"
        if message.state is not None and message.state not in STATES:
            return "NotSupportedState"
        if message.transaction_id is not None and not transaction_ongoing(message.transaction_id):
            return "UnknownTransaction"
        if message.id not in self._messages and len(self._messages) >= capacity:
            return "Rejected"
        if message.start and message.end and message.end <= message.start:
            return "Rejected"
        self._messages[message.id] = message
        return "Accepted"

    def clear(self, message_id: int) -> bool:
        return self._messages.pop(message_id, None) is not None

    def prune(self, now: datetime, transaction_ongoing: Callable[[str], bool]) -> bool:
        """Drop what has expired or whose transaction has ended; whether any was."""
        gone = [
            m.id
            for m in self._messages.values()
            if (m.end is not None and m.end <= now)
            or (m.transaction_id is not None and not transaction_ongoing(m.transaction_id))
        ]
        for message_id in gone:
            del self._messages[message_id]
        return bool(gone)

    def find(
        self, ids: list[int] | None, priority: str | None, state: str | None
    ) -> list[DisplayMessage]:
        """The messages that meet every filter given (O04), by id."""
        return [
            m
            for _, m in sorted(self._messages.items())
            if (not ids or m.id in ids)
            and (priority is None or m.priority == priority)
            and (state is None or m.state == state)
        ]

    def shown(self, now: datetime, station_state: str) -> list[DisplayMessage]:
        """What the display shows now, most prominent first."""
        visible = [
            m
            for m in self._messages.values()
            if (m.start is None or m.start <= now)
            and (m.end is None or now < m.end)
            and (m.state is None or m.state == station_state)
        ]
        return sorted(visible, key=lambda m: (PRIORITIES.index(m.priority), m.id))

    def to_state(self) -> list[dict[str, Any]]:
        return [m.to_wire() for _, m in sorted(self._messages.items())]

    @classmethod
    def from_state(cls, data: list[dict[str, Any]]) -> DisplayMessages:
        messages = cls()
        for item in data:
            message = DisplayMessage.from_state(item)
            messages._messages[message.id] = message
        return messages

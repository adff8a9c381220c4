"""Live events of a test CSMS: the frames it exchanges and the connections it sees,
fanned out to the viewers of its event streams.

Nobody watching costs one attribute test per frame; a frame is decoded only for a
viewer. Each viewer has a bounded queue (:class:`~shared.event_queue.EventQueue`): a
slow one loses its own events and never slows the CSMS.
"""

from __future__ import annotations

import json
from typing import Any

from shared.csms.message_log import MESSAGE_TYPES, Direction
from shared.event_queue import EventQueue
from shared.models.base import utcnow
from shared.schemas.event import CsmsConnectionEvent, CsmsEventPublic, CsmsFrameEvent


class CsmsSubscription(EventQueue[CsmsEventPublic]):
    """``charge_point_id`` None: every charge point. ``kinds`` None: every kind."""

    def __init__(self, charge_point_id: str | None, kinds: frozenset[str] | None) -> None:
        super().__init__()
        self.charge_point_id = charge_point_id
        self.kinds = kinds

    def offer(self, event: CsmsFrameEvent | CsmsConnectionEvent) -> None:
        if (self.charge_point_id is None or self.charge_point_id == event.charge_point_id) and (
            self.kinds is None or event.kind in self.kinds
        ):
            self.put(event)


class CsmsEvents:
    def __init__(self) -> None:
        self.watched = False
        self._subscriptions: list[CsmsSubscription] = []
        #: (charge point, direction of the CALL, unique id) -> action, while watched
        self._calls: dict[tuple[str, str, str], str] = {}

    def subscribe(
        self, charge_point_id: str | None = None, kinds: frozenset[str] | None = None
    ) -> CsmsSubscription:
        subscription = CsmsSubscription(charge_point_id, kinds)
        self._subscriptions.append(subscription)
        self.watched = True
        return subscription

    def unsubscribe(self, subscription: CsmsSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
        subscription.close()
        self.watched = bool(self._subscriptions)
        if not self.watched:
            self._calls.clear()

    def close(self) -> None:
        """End every viewer's stream (the CSMS stops)."""
        for subscription in self._subscriptions:
            subscription.close()

    def frame(self, charge_point_id: str, direction: Direction, frame: str) -> None:
        if self.watched:
            self._publish(self._frame_event(charge_point_id, direction, frame))

    def connection(self, charge_point_id: str, connected: bool, subprotocol: str | None) -> None:
        if self.watched:
            self._publish(
                CsmsConnectionEvent(
                    charge_point_id=charge_point_id,
                    at=utcnow(),
                    connected=connected,
                    subprotocol=subprotocol,
                )
            )

    def _publish(self, event: CsmsFrameEvent | CsmsConnectionEvent) -> None:
        for subscription in self._subscriptions:
            subscription.offer(event)

    def _frame_event(
        self, charge_point_id: str, direction: Direction, frame: str
    ) -> CsmsFrameEvent:
        message_type, unique_id, action, payload = "INVALID", None, None, frame
        try:
            decoded: Any = json.loads(frame)
            message_type = MESSAGE_TYPES[decoded[0]]
            unique_id = str(decoded[1])
        except (ValueError, LookupError, TypeError):
            message_type = "INVALID"
        else:
            if message_type == "CALL" and len(decoded) >= 4:
                action, payload = decoded[2], decoded[3]
                if len(self._calls) < 10_000:
                    self._calls[(charge_point_id, direction, unique_id)] = str(action)
            elif message_type == "CALLRESULT" and len(decoded) >= 3:
                payload = decoded[2]
                action = self._answered(charge_point_id, direction, unique_id)
            elif message_type == "CALLERROR" and len(decoded) >= 4:
                payload = decoded[2:]
                action = self._answered(charge_point_id, direction, unique_id)
            else:
                message_type = "INVALID"
        return CsmsFrameEvent(
            charge_point_id=charge_point_id,
            at=utcnow(),
            direction=direction,
            message_type=message_type,  # type: ignore[arg-type]
            unique_id=unique_id,
            action=action,
            payload=payload,
        )

    def _answered(self, charge_point_id: str, direction: str, unique_id: str) -> str | None:
        called = "received" if direction == "sent" else "sent"
        return self._calls.pop((charge_point_id, called, unique_id), None)

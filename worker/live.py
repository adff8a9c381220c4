"""Live events: a host's fan-out of its twins' events to the viewers watching them.

The host gives its twins :attr:`LiveEvents.sink` as their event sink; it passes every
event on to the next sink (the :class:`~worker.persistence.EventWriter`) and, when
someone watches the twin's charge point, to each watcher. Nobody watching costs a
call and a dict lookup per event: the event is turned into its public form
(:mod:`shared.schemas.event`) only when a watcher wants it, and once for all of them.
Watchers come and go on the host's loop (the embedded API shares it; a worker's relay
runs on it); only the events cross to the viewer's loop, if that is another.

A watcher is a viewer's :class:`Subscription` (a bounded queue: a viewer too slow to
read loses its own events, with a ``dropped`` marker, and never slows the twins) or,
on a Celery worker, a relay that publishes a user's events to Redis
(:mod:`worker.redis_events`). Watchers are kept per user, so that a viewer of all of
a user's twins also sees the twins that start (or move here) while it watches.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from shared.event_queue import QUEUE_CAPACITY, EventQueue
from shared.schemas.event import (
    ChargePointEvent,
    ConfigurationEvent,
    ConnectorEvent,
    FrameEvent,
    MeterEvent,
    TransactionEvent,
    TwinEventPublic,
    VehicleEvent,
)
from worker.twin.events import (
    ChargePointChanged,
    ConfigurationChanged,
    ConnectorChanged,
    EventSink,
    FrameLogged,
    MeterSampled,
    TransactionChanged,
    TwinEvent,
    VehicleChanged,
)

KIND: dict[type, str] = {
    FrameLogged: "frame",
    ChargePointChanged: "charge_point",
    ConnectorChanged: "connector",
    TransactionChanged: "transaction",
    MeterSampled: "meter",
    VehicleChanged: "vehicle",
    ConfigurationChanged: "configuration",
}


@dataclass(frozen=True, slots=True)
class Watched:
    """Whose twin a charge point is, and the API ids behind its connector numbers."""

    user_id: uuid.UUID
    connectors: dict[int, tuple[uuid.UUID, uuid.UUID]]  # connectorid -> (connector, EVSE)


class Watcher(Protocol):
    user_id: uuid.UUID
    charge_point_id: str | None

    def wants(self, kind: str) -> bool: ...

    def put(self, event: TwinEventPublic) -> None: ...


class EventSource(Protocol):
    """Where the API finds live events: a host in this process, or Redis."""

    async def subscribe(
        self,
        user_id: uuid.UUID,
        charge_point_id: str | None = None,
        kinds: frozenset[str] | None = None,
    ) -> Subscription: ...

    async def unsubscribe(self, subscription: Subscription) -> None: ...


class Subscription(EventQueue[TwinEventPublic]):
    """One viewer's events, in order, as an async iterator (see :class:`EventQueue`).

    ``charge_point_id`` None: every twin of the user. ``kinds`` None: every kind.
    """

    def __init__(
        self,
        user_id: uuid.UUID,
        charge_point_id: str | None = None,
        kinds: frozenset[str] | None = None,
        capacity: int = QUEUE_CAPACITY,
    ) -> None:
        super().__init__(capacity)
        self.user_id = user_id
        self.charge_point_id = charge_point_id
        self.kinds = kinds

    def wants(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


class LiveEvents:
    """The event sink a host gives its twins: persists through ``forward`` and fans out
    to the watchers of each charge point."""

    def __init__(self, forward: EventSink) -> None:
        self.forward = forward
        self._twins: dict[str, Watched] = {}
        self._twins_of: dict[uuid.UUID, set[str]] = {}
        self._watchers_of: dict[uuid.UUID, list[Watcher]] = {}
        #: charge point id -> the watchers that want its events; absent when none do.
        #: Changed in place only: :attr:`sink` holds on to it.
        self._watching: dict[str, tuple[Watcher, ...]] = {}
        self.sink: EventSink = self._make_sink()

    def __call__(self, event: TwinEvent) -> None:
        self.sink(event)

    def _make_sink(self) -> EventSink:
        """The twins' sink, as a plain function: a twin pays a call and a dict lookup."""
        forward, watching, deliver = self.forward, self._watching.get, self._deliver

        def sink(event: TwinEvent) -> None:
            forward(event)
            watchers = watching(event.charge_point_id)
            if watchers:
                deliver(event, watchers)

        return sink

    def _deliver(self, event: TwinEvent, watchers: tuple[Watcher, ...]) -> None:
        kind = KIND[type(event)]
        public: TwinEventPublic | None = None
        for watcher in watchers:
            if watcher.wants(kind):
                if public is None:
                    public = to_public(event, self._twins.get(event.charge_point_id))
                watcher.put(public)

    # -- which twins are here, and whose -------------------------------------------

    def register(self, charge_point_id: str, watched: Watched) -> None:
        previous = self._twins.get(charge_point_id)
        if previous is not None and previous.user_id != watched.user_id:
            self.forget(charge_point_id)
        self._twins[charge_point_id] = watched
        self._twins_of.setdefault(watched.user_id, set()).add(charge_point_id)
        self._refresh(charge_point_id)

    def forget(self, charge_point_id: str) -> None:
        watched = self._twins.pop(charge_point_id, None)
        self._watching.pop(charge_point_id, None)
        if watched is not None:
            twins = self._twins_of.get(watched.user_id)
            if twins is not None:
                twins.discard(charge_point_id)
                if not twins:
                    del self._twins_of[watched.user_id]

    # -- watchers --------------------------------------------------------------------

    def watch(self, watcher: Watcher) -> None:
        self._watchers_of.setdefault(watcher.user_id, []).append(watcher)
        self._refresh_user(watcher.user_id)

    def unwatch(self, watcher: Watcher) -> None:
        watchers = self._watchers_of.get(watcher.user_id, [])
        if watcher in watchers:
            watchers.remove(watcher)
        if not watchers:
            self._watchers_of.pop(watcher.user_id, None)
        self._refresh_user(watcher.user_id)

    async def subscribe(
        self,
        user_id: uuid.UUID,
        charge_point_id: str | None = None,
        kinds: frozenset[str] | None = None,
    ) -> Subscription:
        """A viewer's subscription to the user's twins (one of them, with an id)."""
        subscription = Subscription(user_id, charge_point_id, kinds)
        self.watch(subscription)
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        self.unwatch(subscription)
        subscription.close()

    def close(self) -> None:
        """End every viewer's stream (the host stops)."""
        for watchers in list(self._watchers_of.values()):
            for watcher in list(watchers):
                if isinstance(watcher, Subscription):
                    watcher.close()

    def _refresh_user(self, user_id: uuid.UUID) -> None:
        for charge_point_id in list(self._twins_of.get(user_id, ())):
            self._refresh(charge_point_id)

    def _refresh(self, charge_point_id: str) -> None:
        watched = self._twins.get(charge_point_id)
        watchers: tuple[Watcher, ...] = ()
        if watched is not None:
            watchers = tuple(
                watcher
                for watcher in self._watchers_of.get(watched.user_id, ())
                if watcher.charge_point_id in (None, charge_point_id)
            )
        if watchers:
            self._watching[charge_point_id] = watchers
        else:
            self._watching.pop(charge_point_id, None)


def _ids(watched: Watched | None, connectorid: int) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    if watched is None:
        return None, None
    return watched.connectors.get(connectorid, (None, None))


def _uuid(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def to_public(event: TwinEvent, watched: Watched | None = None) -> TwinEventPublic:
    """The public form of a twin's event; ``watched`` gives the API ids of its connectors."""
    charge_point_id = uuid.UUID(event.charge_point_id)
    if isinstance(event, FrameLogged):
        return FrameEvent(
            charge_point_id=charge_point_id,
            at=event.at,
            direction=event.direction,
            message_type=event.message_type,
            unique_id=event.unique_id,
            action=event.action,
            payload=event.payload,
        )
    if isinstance(event, ChargePointChanged):
        return ChargePointEvent(
            charge_point_id=charge_point_id,
            at=event.at,
            status=event.status,
            connected=event.connected,
            boot_reason=event.boot_reason,
            last_heartbeat=event.last_heartbeat,
            heartbeat_interval=event.heartbeat_interval,
        )
    if isinstance(event, VehicleChanged):
        return VehicleEvent(
            charge_point_id=charge_point_id,
            at=event.at,
            vehicle_id=uuid.UUID(event.vehicle_ref),
            soc=event.soc,
            status=event.status,
        )
    if isinstance(event, ConfigurationChanged):
        return ConfigurationEvent(charge_point_id=charge_point_id, at=event.at, values=event.values)
    connector_id, evse_id = _ids(watched, event.connector_id)
    located: dict[str, Any] = {
        "charge_point_id": charge_point_id,
        "at": event.at,
        "connector_id": connector_id,
        "connectorid": event.connector_id,
        "evse_id": evse_id,
        "evseid": event.evse_id,
    }
    if isinstance(event, ConnectorChanged):
        return ConnectorEvent(
            **located,
            status=event.status,
            error_code=event.error_code,
            power_kw=event.power_kw,
            current_a=event.current_a,
            voltage_v=event.voltage_v,
            current_type=event.current_type,
            energy_kwh=event.energy_kwh,
            total_energy_kwh=event.total_energy_kwh,
            soc=event.soc,
            vehicle_id=_uuid(event.vehicle_ref),
            id_tag=event.id_tag,
            transaction_id=_uuid(event.transaction_ref),
            transactionid=event.csms_transaction_id,
        )
    if isinstance(event, TransactionChanged):
        return TransactionEvent(
            **located,
            transaction_id=uuid.UUID(event.transaction_ref),
            transactionid=event.csms_transaction_id,
            status=event.status,
            id_tag=event.id_tag,
            vehicle_id=_uuid(event.vehicle_ref),
            start_time=event.start_time,
            meter_start_wh=event.meter_start_wh,
            energy_kwh=event.energy_kwh,
            end_time=event.end_time,
            meter_stop_wh=event.meter_stop_wh,
            stop_reason=event.stop_reason,
        )
    assert isinstance(event, MeterSampled)
    return MeterEvent(
        **located,
        transaction_id=_uuid(event.transaction_ref),
        context=event.context,
        energy_wh=event.energy_wh,
        power_w=event.power_w,
        current_a=event.current_a,
        voltage_v=event.voltage_v,
        soc=event.soc,
    )

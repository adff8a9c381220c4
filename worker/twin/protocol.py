"""The seam between the twin's core and an OCPP version.

The core (:mod:`worker.twin.charge_point`) owns the state of the charge point and
never builds a message. An adapter (one per OCPP version: ``ocpp16.py``,
``ocpp201.py``) subclasses :class:`ProtocolAdapter` and translates:

* twin → CSMS: the core calls the ``send_*`` coroutines below. Each sends one
  CALL and returns the answer in neutral types (:class:`BootAnswer`,
  :class:`IdTagInfo`...). Each raises :class:`ConnectionLost` when there is no
  connection or it closes before the answer, and :class:`CallFailed` when the
  CSMS answers with a CALLERROR or does not answer within the response timeout.
  Only one CALL is outstanding at a time (the adapter serialises them).
* CSMS → twin: the adapter's handlers decide synchronously with the core's
  ``handle_*`` methods (listed on :class:`Twin`), answer, and only then let the
  core act (:meth:`ProtocolAdapter.after_answer`), so that the CALLRESULT goes out
  before any CALL the action causes.
* configuration: the adapter owns its version's configuration (1.6 keys or 2.0.1
  variables) and keeps :attr:`ProtocolAdapter.settings` current in neutral
  terms; after a change it calls ``twin.settings_changed()``.

:class:`Twin` is what an adapter may use of the core, so this module (and the
adapters) never import the core: the dependencies run one way, core → adapters →
this seam → the neutral values (:mod:`worker.twin.values`) and the state model
(:mod:`worker.twin.model`). Also here, because an adapter is given one:
:class:`LoggedConnection` (every frame in and out becomes a
:class:`~worker.twin.events.FrameLogged`, and none goes out without the host's
lease). The connection loop and the outbound queue are the core's
(:mod:`worker.twin.connection`).
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import orjson
from websockets.asyncio.client import ClientConnection

from worker.twin.events import Direction, FrameLogged, MessageType
from worker.twin.values import (
    MEASURAND_UNITS,
    BootAnswer,
    CallFailed,
    ConnectionLost,
    IdTagInfo,
    InvalidOutgoingCall,
    MeterSample,
    SessionSettings,
)

if TYPE_CHECKING:
    from worker.twin.authorization import Authorizer
    from worker.twin.certificates import CertificateStore
    from worker.twin.clock import Clock
    from worker.twin.config import ChargePointConfig
    from worker.twin.model import ConnectorState, QueuedMessage, Transaction
    from worker.twin.security_events import SecurityEvents
    from worker.twin.smart_charging import ChargingProfile, ChargingProfileStore, CompositeSchedule
    from worker.twin.state import StateStore

logger = logging.getLogger(__name__)

_MESSAGE_TYPES: dict[int, MessageType] = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"}


class TwinQueue(Protocol):
    """The core's outbound queue, as an adapter uses it."""

    def put(self, item: QueuedMessage) -> None: ...

    def durable_items(self) -> list[QueuedMessage]: ...

    def hold(self) -> None: ...

    def release(self) -> None: ...


class Twin(Protocol):
    """What an adapter may use of the twin's core (the charge point twin).

    State to read: ``config``, ``clock``, ``now()``, ``online``, ``connector(id)``,
    ``connectors()`` (``ConnectorState``: status, transaction, limit_kw...),
    ``find_transaction(ref)``, ``authorizer`` (cache and local list), ``profiles``
    (the profile store), ``queue``, ``store``. Decisions on CSMS CALLs: the
    ``handle_*`` methods, each answering in 1.6 words, which the 2.0.1 adapter maps.
    """

    config: ChargePointConfig
    clock: Clock
    online: bool
    response_timeout: float
    authorizer: Authorizer
    profiles: ChargingProfileStore
    queue: TwinQueue
    store: StateStore | None
    certificates: CertificateStore
    security_events: SecurityEvents

    def now(self) -> datetime: ...

    def reconnect(self) -> None:
        """Close the connection and connect again at once (no boot)."""
        ...

    def connector(self, connector_id: int) -> ConnectorState | None: ...

    def connectors(self) -> list[ConnectorState]: ...

    def find_transaction(self, ref: str) -> Transaction | None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run follow-up work as a task the twin owns."""
        ...

    def settings_changed(self, *, heartbeat: bool = False, metering: bool = False) -> None:
        """After a configuration change."""
        ...

    def mark_changed(self) -> None:
        """Something the saved state covers changed: saved with the next batch."""
        ...

    def mark_progressed(self) -> None:
        """Only a counter moved (a seqNo after its event was delivered): saved later."""
        ...

    def handle_remote_start(
        self, id_tag: str, connector_id: int | None, profile: ChargingProfile | None
    ) -> bool: ...

    def handle_remote_stop(self, csms_transaction_id: str) -> bool: ...

    def handle_reserve(
        self,
        connector_id: int,
        expiry: datetime,
        id_tag: str,
        parent_id_tag: str | None,
        reservation_id: int,
    ) -> Literal["Accepted", "Faulted", "Occupied", "Rejected", "Unavailable"]: ...

    def handle_cancel_reservation(self, reservation_id: int) -> bool: ...

    def handle_unlock(
        self, connector_id: int
    ) -> Literal["Unlocked", "UnlockFailed", "NotSupported"]: ...

    def handle_change_availability(
        self, connector_id: int, operative: bool
    ) -> Literal["Accepted", "Rejected", "Scheduled"]:
        """``connector_id`` 0: the whole charge point."""
        ...

    def handle_reset(self, hard: bool) -> None:
        """The core stops transactions, reconnects and boots."""
        ...

    def reset_evse(self, evse_id: int, reason: str) -> None: ...

    def handle_set_charging_profile(self, connector_id: int, profile: ChargingProfile) -> bool: ...

    def handle_clear_charging_profile(
        self,
        profile_id: int | None,
        connector_id: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> bool:
        """False: nothing matched."""
        ...

    def handle_composite_schedule(
        self, connector_id: int, duration: int, unit: Literal["A", "W"] | None
    ) -> CompositeSchedule | None:
        """None: unknown connector."""
        ...

    async def trigger_boot(self) -> None: ...

    async def end_transactions(self, reason: str) -> None:
        """End every running transaction with ``reason`` (a 1.6 stop reason)."""
        ...

    async def reboot(self, stop_reason: str, boot_reason: str) -> None:
        """Transactions end, the twin reconnects and boots with ``boot_reason``."""
        ...

    def booted(self) -> bool:
        """Online with the boot accepted since the last reboot."""
        ...

    async def send_heartbeat(self) -> None: ...

    def status_of(self, connector_id: int) -> tuple[str, str, str | None]: ...

    def current_sample(self, connector: ConnectorState, context: str) -> MeterSample: ...


class ProtocolAdapter(ABC):
    """What an OCPP version must provide to the core, and what the core offers it.

    One adapter instance lives as long as its twin; :meth:`attach` gives it each
    new connection and :meth:`detach` takes it away. A subclass also inherits the
    version's ``ocpp`` library ChargePoint for the CSMS's CALLs (routing with
    ``@on``, schema validation); :class:`worker.twin.wire.OcppJAdapter` holds what
    both versions share on the wire (framing, CALLERROR, how the twin's own CALLs go
    out: validated, one at a time under ``_call_lock``, answer through one future).

    **Adapter → CSMS** (called by the core): the abstract ``send_*`` methods.
    One CALL at a time; ``ConnectionLost`` / ``CallFailed`` as the module says.

    **CSMS → core** (called by the adapter's handlers). Each decides at once and
    returns the answer in 1.6 words, which the 2.0.1 adapter maps:

    * ``handle_remote_start(id_tag, connector_id | None, ChargingProfile | None) -> bool``
    * ``handle_remote_stop(csms_transaction_id: str) -> bool``
    * ``handle_reserve(connector_id, expiry, id_tag, parent_id_tag, reservation_id)``
      → Accepted / Faulted / Occupied / Rejected / Unavailable
    * ``handle_cancel_reservation(reservation_id) -> bool``
    * ``handle_unlock(connector_id)`` → Unlocked / UnlockFailed / NotSupported
    * ``handle_change_availability(connector_id (0: all), operative: bool)``
      → Accepted / Rejected / Scheduled
    * ``handle_reset(hard: bool)`` (the core stops transactions, reconnects, boots)
    * ``handle_set_charging_profile(connector_id, ChargingProfile) -> bool``,
      ``handle_clear_charging_profile(profile_id, connector_id, purpose, stack_level)
      -> bool`` (False: nothing matched), ``handle_composite_schedule(connector_id,
      duration, unit) -> CompositeSchedule | None`` (None: unknown connector)
    * for TriggerMessage: ``trigger_boot()``, ``send_heartbeat()``,
      ``status_of(connector_id)``, ``current_sample(connector, context)``
    * state to read: ``config``, ``now()``, ``connector(id)``, ``connectors()``
      (``ConnectorState``: status, transaction, limit_kw...), ``find_transaction(ref)``,
      ``authorizer`` (cache and local list), ``profiles`` (the profile store)
    * ``spawn(coroutine)`` runs follow-up work as a task the twin owns;
      ``settings_changed(heartbeat=, metering=)`` after a configuration change.

    Connectors are named by the charge-point-wide ``connector_id`` (1.6's
    connectorId); the 2.0.1 adapter maps (evseId, connectorId) through
    ``connector.config.evse_connector_id`` and ``connector.evse_id``.

    **Ordering rule.** While a CSMS CALL is handled, the adapter holds the
    outbound queue (``twin.queue.hold()`` / ``release()``) and collects
    :meth:`after_answer` actions in ``_deferred``, running them with
    :meth:`run_deferred` once the answer is sent: messages a CALL causes always
    follow its answer.
    """

    #: The websocket subprotocol, e.g. ``"ocpp1.6"``.
    subprotocol: ClassVar[str]

    twin: Twin
    settings: SessionSettings

    @abstractmethod
    def attach(self, connection: LoggedConnection) -> None:
        """Use this connection from now on."""

    @abstractmethod
    def detach(self) -> None:
        """The connection is gone: fail the outstanding CALL with ConnectionLost."""

    @abstractmethod
    async def serve(self) -> None:
        """Read and answer frames until the connection closes. Never raises for a
        bad frame: it answers a CALLERROR if it can, logs, and reads on."""

    @abstractmethod
    async def send_boot_notification(self, reason: str) -> BootAnswer:
        """``reason`` is the 2.0.1 BootReasonEnumType word (PowerUp, RemoteReset...)."""

    @abstractmethod
    async def send_heartbeat(self) -> datetime | None:
        """Returns the CSMS's current time."""

    @abstractmethod
    async def send_status_notification(
        self, connector_id: int, status: str, error_code: str, info: str | None
    ) -> None:
        """``connector_id`` 0 is the charge point as a whole; ``status`` and
        ``error_code`` are 1.6 ChargePointStatus / ChargePointErrorCode words."""

    @abstractmethod
    async def send_authorize(self, id_tag: str) -> IdTagInfo: ...

    @abstractmethod
    async def send_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: Any = None
    ) -> tuple[str, Any]:
        """Returns the CSMS's status (Accepted, Rejected, UnknownVendorId...) and data."""

    @abstractmethod
    async def send_start_transaction(self, transaction: Transaction) -> tuple[str, IdTagInfo]:
        """Returns the CSMS's transaction id (as a string) and its IdTagInfo."""

    @abstractmethod
    async def send_stop_transaction(self, transaction: Transaction) -> IdTagInfo | None:
        """``transaction.csms_transaction_id`` is set (the queue guarantees it)."""

    @abstractmethod
    async def send_meter_values(
        self, sample: MeterSample, transaction: Transaction | None
    ) -> None: ...

    @abstractmethod
    def configuration_values(self) -> dict[str, str]:
        """Every non-default configuration value (for ConfigurationChanged)."""

    @abstractmethod
    def heartbeat_interval_from_boot(self, interval: int) -> None:
        """The boot answer set the heartbeat interval: store it (1.6: the
        HeartbeatInterval key) and update :attr:`settings`."""

    def keeps_transaction_when_unplugged(self) -> bool:
        """Whether a transaction goes on when the vehicle is unplugged (1.6:
        StopTransactionOnEVSideDisconnect is false)."""
        return not self.settings.stop_transaction_on_ev_side_disconnect

    def start_abandoned(self, id_tag: str) -> None:
        """A remote start for ``id_tag`` came to nothing (no vehicle in time)."""
        return None

    def save_state(self) -> dict[str, Any]:
        """What the version keeps beyond the core's state (plain JSON data), for
        :meth:`ChargePointTwin.save_state`; per transaction see
        :meth:`transaction_state`."""
        return {}

    def restore_state(self, data: dict[str, Any]) -> None:
        """Take back what :meth:`save_state` returned (on a fresh adapter)."""
        return None

    def transaction_state(self, transaction: Transaction) -> dict[str, Any] | None:
        """What the version keeps about one transaction (2.0.1: seqNo...), or None."""
        return None

    def restore_transaction_state(self, transaction: Transaction, data: dict[str, Any]) -> None:
        """Take back what :meth:`transaction_state` returned."""
        return None

    def skip_unsaved_numbers(self, transaction: Transaction, seconds: float) -> None:
        """The restored state may be up to ``seconds`` (twin time) older than what the
        twin last sent, as a periodic meter value goes out before it is saved: skip
        whatever numbers the version gives its transaction messages (2.0.1 seqNo) that
        the twin may have used meanwhile, so that none is used twice."""
        return None

    #: Actions to run once the answer to the CALL being handled is on the wire;
    #: None when no CALL is being handled. The subclass sets it around each call.
    _deferred: list[Callable[[], None]] | None = None

    def after_answer(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the answer to the CALL being handled has been sent
        (at once when no CALL is being handled), so that, say, the
        StartTransaction a RemoteStartTransaction causes follows its answer."""
        if self._deferred is None:
            action()
        else:
            self._deferred.append(action)

    def run_deferred(self, deferred: list[Callable[[], None]]) -> None:
        for action in deferred:
            try:
                action()
            except Exception:
                logger.exception("%s: action after answer failed", self.twin.config.cid)


class LoggedConnection:
    """Wraps a websocket so that every frame in and out becomes a FrameLogged.

    The answer to a CALL carries no action on the wire; the wrapper remembers the
    action of each outstanding CALL (there are few) to name its answer. Each frame
    is parsed once: :meth:`recv` keeps the parsed frame in :attr:`last_frame` for
    the adapter, and :meth:`send_frame` takes the frame its sender already has.

    ``log_frames`` False (the charge point's message log is off): no FrameLogged at all,
    and no work to name answers; the lease still gates every frame.
    """

    __slots__ = (
        "_emit",
        "_log_frames",
        "_now",
        "_pending",
        "_permit",
        "charge_point_id",
        "last_frame",
        "websocket",
    )

    def __init__(
        self,
        websocket: ClientConnection,
        charge_point_id: str,
        emit: Callable[[Any], None],
        now: Callable[[], datetime],
        permit: Callable[[], bool] | None = None,
        *,
        log_frames: bool = True,
    ) -> None:
        self.websocket = websocket
        self.charge_point_id = charge_point_id
        self._emit = emit
        self._now = now
        self._permit = permit
        self._log_frames = log_frames
        self._pending: dict[tuple[Direction, str], str] = {}
        self.last_frame: Any = None

    async def send(self, message: str) -> None:
        self._check_permit()
        if self._log_frames:
            self._log("sent", message, _parse(message))
        await self.websocket.send(message)

    async def send_frame(self, message: str, frame: list[Any]) -> None:
        """Send ``message``, the JSON of ``frame``."""
        self._check_permit()
        if self._log_frames:
            self._log("sent", message, frame)
        await self.websocket.send(message)

    def _check_permit(self) -> None:
        """Every frame goes out only while the host holds the twin's lease: without
        it, drop the connection (no close handshake: not one more byte to the CSMS)
        and raise ConnectionLost instead of sending."""
        if self._permit is None or self._permit():
            return
        logger.warning("%s: lease lost, dropping the connection", self.charge_point_id)
        transport = getattr(self.websocket, "transport", None)
        if transport is not None:
            transport.abort()
        raise ConnectionLost("this process no longer holds the charge point's lease")

    async def recv(self) -> str:
        message = await self.websocket.recv()
        if isinstance(message, bytes):
            message = message.decode("utf-8", errors="replace")
        self.last_frame = frame = _parse(message)
        if self._log_frames:
            self._log("received", message, frame)
        return message

    async def close(self) -> None:
        await self.websocket.close()

    def _log(self, direction: Direction, raw: str, frame: Any) -> None:
        try:
            message_type = _MESSAGE_TYPES[frame[0]]
            unique_id = str(frame[1])
        except (KeyError, IndexError, TypeError):
            self._emit(
                FrameLogged(self.charge_point_id, self._now(), direction, "CALL", "", None, raw)
            )
            return
        if message_type == "CALL":
            action = frame[2] if len(frame) > 2 else None
            payload = frame[3] if len(frame) > 3 else None
            if isinstance(action, str):
                pending = self._pending
                pending[(direction, unique_id)] = action
                if len(pending) > 16:  # CALLs never answered: forget the oldest
                    del pending[next(iter(pending))]
        else:
            # An answer travels the other way from its CALL.
            asker: Direction = "received" if direction == "sent" else "sent"
            action = self._pending.pop((asker, unique_id), None)
            payload = frame[2] if message_type == "CALLRESULT" and len(frame) > 2 else frame[2:]
        self._emit(
            FrameLogged(
                self.charge_point_id,
                self._now(),
                direction,
                message_type,
                unique_id,
                action,
                payload,
            )
        )


def _parse(raw: str) -> Any:
    """The JSON of a frame, or None when it is not JSON: orjson (~0.2 µs for an answer,
    ``json`` ~2 µs), and ``json`` for what orjson refuses but ``json`` reads (NaN, an
    integer beyond 64 bits), as before."""
    try:
        return orjson.loads(raw)
    except ValueError:
        pass
    try:
        return json.loads(raw)
    except ValueError:
        return None


__all__ = [
    "MEASURAND_UNITS",
    "BootAnswer",
    "CallFailed",
    "ConnectionLost",
    "IdTagInfo",
    "InvalidOutgoingCall",
    "LoggedConnection",
    "MeterSample",
    "ProtocolAdapter",
    "SessionSettings",
    "Twin",
    "TwinQueue",
]

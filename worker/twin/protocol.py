"""The seam between the twin's core and an OCPP version, and the connection loop.

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
  ``handle_*`` methods (listed on :class:`ProtocolAdapter`), answer, and only
  then let the core act (:meth:`ProtocolAdapter.after_answer`), so that the
  CALLRESULT goes out before any CALL the action causes.
* configuration: the adapter owns its version's configuration (1.6 keys or 2.0.1
  variables) and keeps :attr:`ProtocolAdapter.settings` current in neutral
  terms; after a change it calls ``twin.settings_changed()``.

Also here, because they are the same for every version: :class:`LoggedConnection`
(every frame in and out becomes a :class:`~worker.twin.events.FrameLogged`),
:class:`ConnectionLoop` (connect with subprotocol, basic auth, TLS, reconnect with
back-off and jitter) and :class:`OutboundQueue` (the in-order queue of
StatusNotifications and transaction messages, kept across disconnects).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import ssl
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from worker.twin.events import Direction, FrameLogged, MessageType

if TYPE_CHECKING:
    from worker.twin.charge_point import ChargePointTwin, Transaction

logger = logging.getLogger(__name__)

_MESSAGE_TYPES: dict[int, MessageType] = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"}


class ConnectionLost(Exception):
    """No connection to the CSMS, or it closed before the answer arrived."""


class CallFailed(Exception):
    """The CSMS answered a CALL with a CALLERROR, or not in time."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


class InvalidOutgoingCall(CallFailed):
    """A CALL the twin was about to send breaks its request schema; nothing was sent.

    A :class:`CallFailed`, so that the core's usual paths (boot retry, the queue's
    attempts, a command's error) handle it; the adapter has already logged it as
    an error, since it is a bug of the twin and not of the CSMS.
    """


@dataclass(frozen=True, slots=True)
class BootAnswer:
    status: Literal["Accepted", "Pending", "Rejected"]
    interval: int
    current_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class IdTagInfo:
    """An authorisation answer. ``status`` uses the 1.6 words (Accepted, Blocked,
    Expired, Invalid, ConcurrentTx); the 2.0.1 adapter maps its own to them."""

    status: str
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


#: Measurands the twin can produce, with their unit (the same words in 1.6 and 2.0.1).
MEASURAND_UNITS: dict[str, str] = {
    "Energy.Active.Import.Register": "Wh",
    "Power.Active.Import": "W",
    "Power.Offered": "W",
    "Current.Import": "A",
    "Current.Offered": "A",
    "Voltage": "V",
    "SoC": "Percent",
}


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One set of sampled values of a connector; the adapter keeps the measurands
    that :attr:`SessionSettings.measurands` asks for."""

    at: datetime
    connector_id: int
    energy_wh: float
    power_w: float
    current_a: float
    voltage_v: float
    soc: float | None
    phases: int
    context: str = "Sample.Periodic"


@dataclass(slots=True)
class SessionSettings:
    """The configuration values the core acts on, in neutral words.

    The adapter maps its version's keys to these (1.6 ``HeartbeatInterval`` →
    ``heartbeat_interval``...). Intervals are in simulated seconds.
    """

    heartbeat_interval: int = 300
    meter_value_sample_interval: int = 60
    measurands: tuple[str, ...] = (
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
        "SoC",
    )
    authorize_remote_tx_requests: bool = True
    local_authorize_offline: bool = True
    local_pre_authorize: bool = False
    authorization_cache_enabled: bool = True
    local_auth_list_enabled: bool = True
    allow_offline_tx_for_unknown_id: bool = False
    stop_transaction_on_ev_side_disconnect: bool = True
    stop_transaction_on_invalid_id: bool = True
    transaction_message_attempts: int = 3
    transaction_message_retry_interval: int = 60
    websocket_ping_interval: int = 0


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

    twin: ChargePointTwin
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
    """

    __slots__ = (
        "_emit",
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
    ) -> None:
        self.websocket = websocket
        self.charge_point_id = charge_point_id
        self._emit = emit
        self._now = now
        self._permit = permit
        self._pending: dict[tuple[Direction, str], str] = {}
        self.last_frame: Any = None

    async def send(self, message: str) -> None:
        self._check_permit()
        self._log("sent", message, _parse(message))
        await self.websocket.send(message)

    async def send_frame(self, message: str, frame: list[Any]) -> None:
        """Send ``message``, the JSON of ``frame``."""
        self._check_permit()
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
    """The JSON of a frame, or None when it is not JSON."""
    try:
        return json.loads(raw)
    except ValueError:
        return None


def basic_auth_header(username: str, password: str) -> str:
    """The Authorization header of OCPP security profile 1."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def describe_connect_error(url: str, error: BaseException) -> str:
    """What went wrong when connecting, in words a user can act on."""
    if isinstance(error, InvalidStatus):
        code = error.response.status_code
        hint = {
            401: " (wrong password for this charge point?)",
            403: " (charge point id not allowed?)",
            404: " (wrong URL or unknown charge point id?)",
        }.get(code, "")
        return f"CSMS at {url} refused the connection: HTTP {code}{hint}"
    if isinstance(error, InvalidHandshake):
        return f"CSMS at {url} refused the websocket handshake: {error}"
    if isinstance(error, ssl.SSLError):
        return f"TLS with CSMS at {url} failed: {error}"
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return f"CSMS at {url} did not answer the connection in time"
    if isinstance(error, OSError):
        return f"cannot reach CSMS at {url}: {error.strerror or error}"
    return f"cannot connect to CSMS at {url}: {error}"


class ConnectionLoop:
    """Keeps a twin connected: connect, let the twin run its session, reconnect.

    Back-off after a failed or lost connection: 1 s doubling to 60 s (simulated
    seconds, so a fast clock retries sooner), times a random factor in
    [0.5, 1.0] so that a fleet does not reconnect in lockstep. A connection
    that lasted reset the back-off.
    """

    INITIAL_BACKOFF = 1.0
    MAX_BACKOFF = 60.0
    #: Real seconds between two looks at the lease while the host does not hold it.
    PERMIT_RECHECK = 1.0

    __slots__ = ("_backoff", "_ssl", "reconnect_now", "twin", "url")

    def __init__(self, twin: ChargePointTwin) -> None:
        self.twin = twin
        config = twin.config
        self.url = f"{config.csms_url.rstrip('/')}/{config.cid}"
        self._backoff = self.INITIAL_BACKOFF
        self._ssl: ssl.SSLContext | None = None
        self.reconnect_now = False

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.url.startswith("wss://"):
            return None
        if self._ssl is None:
            self._ssl = ssl.create_default_context(cafile=self.twin.config.ca_file)
        return self._ssl

    async def run(self) -> None:
        twin = self.twin
        adapter = twin.adapter
        headers = {}
        if twin.config.password:
            headers["Authorization"] = basic_auth_header(twin.config.cid, twin.config.password)
        while True:
            await self._wait_for_permit()
            ping = adapter.settings.websocket_ping_interval
            try:
                websocket = await connect(
                    self.url,
                    subprotocols=[Subprotocol(adapter.subprotocol)],
                    additional_headers=headers,
                    ssl=self._ssl_context(),
                    # Per-connection deflate state costs ~100 KB; OCPP frames are small.
                    compression=None,
                    proxy=None,
                    open_timeout=twin.connect_timeout,
                    ping_interval=ping or None,
                    ping_timeout=ping or None,
                    close_timeout=2,
                )
            except asyncio.CancelledError:
                raise
            except Exception as error:
                twin.connection_failed(describe_connect_error(self.url, error))
            else:
                if websocket.subprotocol != adapter.subprotocol:
                    await websocket.close()
                    twin.connection_failed(
                        f"CSMS at {self.url} did not agree to subprotocol {adapter.subprotocol}"
                    )
                else:
                    lasted = await self._session(websocket)
                    if lasted:
                        self._backoff = self.INITIAL_BACKOFF
            if self.reconnect_now:
                self.reconnect_now = False
                continue
            delay = self._backoff * random.uniform(0.5, 1.0)
            self._backoff = min(self._backoff * 2, self.MAX_BACKOFF)
            twin.retrying_in(delay)
            await twin.clock.sleep(delay)

    async def _wait_for_permit(self) -> None:
        """Open no websocket while the host does not hold the twin's lease."""
        twin = self.twin
        if twin.permitted():
            return
        twin.connection_failed("this process does not hold the charge point's lease")
        while True:  # the host's lease is a clock comparison: polling is what it offers
            await asyncio.sleep(self.PERMIT_RECHECK)
            if twin.permitted():
                return

    async def _session(self, websocket: ClientConnection) -> bool:
        """Serve one connection until it closes; True if the session got going."""
        twin = self.twin
        adapter = twin.adapter
        connection = LoggedConnection(
            websocket, twin.config.charge_point_id, twin.sink, twin.now, twin.permitted
        )
        adapter.attach(connection)
        serve = asyncio.ensure_future(adapter.serve())
        session = asyncio.ensure_future(twin.run_session())
        reason = "connection closed"
        try:
            done, _ = await asyncio.wait({serve, session}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                error = task.exception()
                if error is not None and not isinstance(error, ConnectionClosed | ConnectionLost):
                    logger.error("%s: session ended by %r", twin.config.cid, error)
                    reason = f"session error: {error}"
        finally:
            for task in (serve, session):
                task.cancel()
            adapter.detach()
            await asyncio.gather(serve, session, return_exceptions=True)
            await websocket.close()
            lasted = twin.session_ended(reason)
        return lasted


QueuedKind = Literal["status", "start", "stop", "meter"]


@dataclass(slots=True)
class QueuedMessage:
    """One message waiting for its turn. Status notifications are volatile (dropped
    on disconnect); transaction messages stay until delivered or given up."""

    kind: QueuedKind
    transaction: Transaction | None = None
    sample: MeterSample | None = None
    connector_id: int = 0
    status: str = ""
    error_code: str = "NoError"
    info: str | None = None
    attempts: int = 0
    done: asyncio.Future[Any] | None = None
    #: In the state the host's store has written (see :class:`OutboundQueue`).
    persisted: bool = False

    @property
    def durable(self) -> bool:
        return self.kind != "status"


class OutboundQueue:
    """In-order delivery of StatusNotifications and transaction messages.

    Transaction messages (StartTransaction, StopTransaction, MeterValues of a
    transaction) survive disconnects and are delivered after reconnecting, in
    order, once each. A message that needs the CSMS's transaction id waits behind
    the StartTransaction that brings it. A CALLERROR or a timeout counts as one
    attempt; after ``transaction_message_attempts`` the message is dropped (logged),
    as OCPP 1.6 §4.10 describes. One drain task at a time, only while online.

    Persist before send: with a state store (``twin.store``), the first attempt of a
    transaction message waits until the store has written the twin's state as of
    then (which holds the message), so that a restored twin re-sends what the CSMS
    may have seen and never counts a register below it. Status notifications are
    volatile and never wait.
    """

    #: Periodic MeterValues kept while offline; older ones are dropped first, so a
    #: long outage costs bounded memory (StartTransaction/StopTransaction never go).
    MAX_METER_VALUES = 500
    #: Real seconds before asking a failing state store again.
    STORE_RETRY = 1.0

    __slots__ = ("_delivered", "_held", "_items", "_meter_values", "_task", "twin")

    def __init__(
        self,
        twin: ChargePointTwin,
        delivered: Callable[[QueuedMessage, Any], Awaitable[None] | None],
    ) -> None:
        self.twin = twin
        self._items: deque[QueuedMessage] = deque()
        self._task: asyncio.Task[None] | None = None
        self._delivered = delivered
        self._held = 0
        self._meter_values = 0

    def __len__(self) -> int:
        return len(self._items)

    def durable_items(self) -> list[QueuedMessage]:
        return [item for item in self._items if item.durable]

    def put(self, item: QueuedMessage) -> None:
        self._items.append(item)
        if item.kind == "meter":
            self._meter_values += 1
            if self._meter_values > self.MAX_METER_VALUES:
                self._drop_oldest_meter_value()
        if item.durable:
            self.twin.mark_changed()
        self.kick()

    def _drop_oldest_meter_value(self) -> None:
        for index, queued in enumerate(self._items):
            # The head may be in flight; never pull it from under the drain.
            if index > 0 and queued.kind == "meter":
                del self._items[index]
                self._meter_values -= 1
                logger.info("%s: offline queue full, dropped a MeterValues", self.twin.config.cid)
                return

    def _popleft(self) -> QueuedMessage:
        item = self._items.popleft()
        if item.kind == "meter":
            self._meter_values -= 1
        if item.durable:
            self.twin.mark_changed()
        return item

    def kick(self) -> None:
        """Start draining if online and not already draining."""
        if (
            self._items
            and self.twin.online
            and not self._held
            and (self._task is None or self._task.done())
        ):
            self._task = asyncio.ensure_future(self._drain())

    def hold(self) -> None:
        """Send nothing new until :meth:`release` (while a CSMS CALL is answered,
        so that the messages it causes follow the answer)."""
        self._held += 1

    def release(self) -> None:
        self._held = max(0, self._held - 1)
        self.kick()

    def drop_volatile(self) -> None:
        kept = [item for item in self._items if item.durable]
        if len(kept) != len(self._items):
            self._items = deque(kept)

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def wait_empty(self, timeout: float) -> bool:
        """Wait (real seconds) until the current drain has delivered everything."""
        self.kick()
        if self._task is not None and not self._task.done():
            await asyncio.wait({self._task}, timeout=timeout)
        return not self._items

    async def _drain(self) -> None:
        twin = self.twin
        adapter = twin.adapter
        while self._items and twin.online and not self._held:
            item = self._items[0]
            store = twin.store
            if store is not None and item.durable and not item.persisted:
                # Everything queued now is in the state written as of now.
                waiting = [queued for queued in self._items if queued.durable]
                try:
                    await store.saved(twin)
                except Exception:
                    # Sending unsaved would break the promise a restore relies on.
                    logger.exception("%s: state not saved; holding the queue", twin.config.cid)
                    await asyncio.sleep(self.STORE_RETRY)
                    continue
                for queued in waiting:
                    queued.persisted = True
                continue
            try:
                result = await self._send(adapter, item)
            except ConnectionLost:
                return
            except CallFailed as error:
                item.attempts += 1
                attempts = max(1, twin.adapter.settings.transaction_message_attempts)
                if not item.durable or item.attempts >= attempts:
                    logger.warning(
                        "%s: giving up %s after %d attempt(s): %s",
                        twin.config.cid,
                        item.kind,
                        item.attempts,
                        error,
                    )
                    self._popleft()
                    if item.done is not None and not item.done.done():
                        item.done.set_exception(error)
                    continue
                retry = adapter.settings.transaction_message_retry_interval * item.attempts
                await twin.clock.sleep(retry)
                continue
            if self._items and self._items[0] is item:
                self._popleft()
            outcome = self._delivered(item, result)
            if outcome is not None:
                await outcome
            if item.done is not None and not item.done.done():
                item.done.set_result(result)

    @staticmethod
    async def _send(adapter: ProtocolAdapter, item: QueuedMessage) -> Any:
        if item.kind == "status":
            return await adapter.send_status_notification(
                item.connector_id, item.status, item.error_code, item.info
            )
        assert item.transaction is not None
        if item.kind == "start":
            return await adapter.send_start_transaction(item.transaction)
        if item.kind == "stop":
            return await adapter.send_stop_transaction(item.transaction)
        assert item.sample is not None
        return await adapter.send_meter_values(item.sample, item.transaction)


__all__ = [
    "MEASURAND_UNITS",
    "BootAnswer",
    "CallFailed",
    "ConnectionLoop",
    "ConnectionLost",
    "IdTagInfo",
    "LoggedConnection",
    "MeterSample",
    "OutboundQueue",
    "ProtocolAdapter",
    "QueuedMessage",
    "SessionSettings",
]

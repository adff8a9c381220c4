"""The connection loop and the outbound queue: how a twin stays on the wire.

Both are the core's and the same for every OCPP version: :class:`ConnectionLoop`
(connect with subprotocol, basic auth, TLS, reconnect with back-off and jitter,
and only while the host holds the twin's lease) and :class:`OutboundQueue` (the
in-order queue of StatusNotifications and transaction messages, kept across
disconnects). They reach the twin through :class:`SessionHost`, and the CSMS
through the twin's :class:`~worker.twin.protocol.ProtocolAdapter`.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import logging
import random
import re
import socket
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from worker.twin.model import QueuedMessage
from worker.twin.protocol import LoggedConnection, ProtocolAdapter, Twin
from worker.twin.values import CallFailed, ConnectionLost

if TYPE_CHECKING:
    from worker.twin.certificates import CertificateStore
    from worker.twin.events import EventSink
    from worker.twin.security_events import SecurityEvents

logger = logging.getLogger(__name__)


class SessionHost(Twin, Protocol):
    """What the connection loop and the queue use of the twin, beyond :class:`Twin`."""

    adapter: ProtocolAdapter
    certificates: CertificateStore
    security_events: SecurityEvents
    sink: EventSink
    connect_timeout: float

    def permitted(self) -> bool: ...

    def connection_failed(self, message: str, definitive: bool = False) -> None: ...

    def retrying_in(self, delay: float) -> None: ...

    async def run_session(self) -> None: ...

    def session_ended(self, reason: str) -> bool: ...


def basic_auth_header(username: str, password: str) -> str:
    """The Authorization header of OCPP security profile 1."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def describe_connect_error(
    url: str, error: BaseException, client_certificate: bool | None = None
) -> str:
    """What went wrong when connecting, in words a user can act on; ``client_certificate``
    says whether the twin presented one (over wss)."""
    if closed_during_tls(url, error):
        # TLS 1.3: a CSMS that refuses our certificate (or its absence) does so after the
        # TLS handshake, by an alert that reaches us as a closed connection.
        verdict = (
            "does it accept this charge point's client certificate?"
            if client_certificate
            else "does it require a client certificate (security profile 3)? This charge "
            "point has none"
        )
        return (
            f"TLS with CSMS at {url} failed: the CSMS closed the connection before the "
            f"websocket handshake ({verdict})"
        )
    if isinstance(error, InvalidStatus):
        code = error.response.status_code
        hint = {
            401: " (wrong password for this charge point?)",
            403: " (charge point id not allowed?)",
            404: " (wrong URL or unknown charge point id?)",
        }.get(code, "")
        return f"CSMS at {url} refused the connection: HTTP {code}{hint}"
    if isinstance(error, InvalidHandshake) and isinstance(error.__cause__, ssl.SSLError):
        # TLS 1.3: the CSMS's verdict on our certificate arrives after the TLS handshake.
        cause = error.__cause__
        return f"TLS with CSMS at {url} failed: {cause}{_tls_hint(cause)}"
    if isinstance(error, InvalidHandshake):
        return f"CSMS at {url} refused the websocket handshake: {error}"
    if isinstance(error, ssl.SSLError):
        return f"TLS with CSMS at {url} failed: {error}{_tls_hint(error)}"
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return f"CSMS at {url} did not answer the connection in time"
    if isinstance(error, socket.gaierror):
        return f"cannot reach CSMS at {url}: its host name does not resolve ({error.strerror})"
    if is_definitive(error):
        return f"cannot reach CSMS at {url}: connection refused (nothing listens at that port)"
    if isinstance(error, OSError) and error.errno == errno.EMFILE:
        return (
            f"cannot reach CSMS at {url}: this process has as many files open as it may "
            "(each twin holds a socket; the host logs its limit at start): raise the hard "
            "limit (ulimit -Hn, LimitNOFILE in systemd, ulimits in Docker) or spread the "
            "twins over more hosts"
        )
    if isinstance(error, OSError):
        return f"cannot reach CSMS at {url}: {error.strerror or error}"
    return f"cannot connect to CSMS at {url}: {error}"


def closed_during_tls(url: str, error: BaseException) -> bool:
    """Whether a wss CSMS closed the connection before answering the websocket handshake:
    how a CSMS requiring client certificates refuses one under TLS 1.3."""
    return (
        url.startswith("wss://")
        and isinstance(error, InvalidHandshake)
        and isinstance(error.__cause__, EOFError)
    )


def _tls_hint(error: ssl.SSLError) -> str:
    """What a TLS alert from the CSMS most likely means for a charge point."""
    text = str(error).upper()
    if "CERTIFICATE_REQUIRED" in text or "HANDSHAKE_FAILURE" in text:
        return (
            " (the CSMS asks for a client certificate, security profile 3: give the charge "
            "point one)"
        )
    if any(word in text for word in ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN")):
        return " (the CSMS does not accept this charge point's client certificate)"
    if "CERTIFICATE_EXPIRED" in text:
        return " (the CSMS says this charge point's client certificate has expired)"
    return ""


def security_event_of(error: BaseException) -> str | None:
    """The security event (2.0.1 words) a failed connect is, if any."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return "InvalidCsmsCertificate"
    if isinstance(error, InvalidStatus) and error.response.status_code == 401:
        return "FailedToAuthenticateAtCsms"
    return None


def is_definitive(error: BaseException) -> bool:
    """Whether a failed connect is one that waiting will not cure: nothing listens at the
    port, the host name does not resolve, the URL is not valid, the CSMS refused this
    charge point (HTTP 401, 403, 404) or its certificate is not trusted."""
    if isinstance(error, InvalidStatus):
        return error.response.status_code in (401, 403, 404)
    if isinstance(error, InvalidURI | socket.gaierror | ssl.SSLCertVerificationError):
        return True
    if isinstance(error, ConnectionRefusedError):
        return True
    if isinstance(error, OSError) and error.errno is None:
        # Every address of the host refused (asyncio joins their errors into one message).
        codes = re.findall(r"\[Errno (\d+)\]", str(error))
        return bool(codes) and all(int(code) == errno.ECONNREFUSED for code in codes)
    return False


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

    __slots__ = ("_backoff", "_ssl", "_ssl_revision", "reconnect_now", "twin", "url")

    def __init__(self, twin: SessionHost) -> None:
        self.twin = twin
        config = twin.config
        self.url = f"{config.csms_url.rstrip('/')}/{config.cid}"
        self._backoff = self.INITIAL_BACKOFF
        self._ssl: ssl.SSLContext | None = None
        self._ssl_revision = -1
        self.reconnect_now = False

    def _ssl_context(self) -> ssl.SSLContext | None:
        """For wss://: the host's CA file and the installed CSMS root certificates, and the
        charge point's client certificate when it has one (security profile 3); made
        again when the certificate store changed."""
        if not self.url.startswith("wss://"):
            return None
        store = self.twin.certificates
        if self._ssl is None or self._ssl_revision != store.revision:
            self._ssl = store.ssl_context(self.twin.config.ca_file)
            self._ssl_revision = store.revision
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
                event = security_event_of(error)
                if event is not None:
                    twin.security_events.record(event, str(error))
                has_certificate = twin.certificates.client_certificate is not None
                twin.connection_failed(
                    describe_connect_error(self.url, error, has_certificate),
                    definitive=is_definitive(error)
                    or (not has_certificate and closed_during_tls(self.url, error)),
                )
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
            websocket,
            twin.config.charge_point_id,
            twin.sink,
            twin.now,
            twin.permitted,
            log_frames=twin.config.message_log,
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
        twin: SessionHost,
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
        if item.kind == "start" and item.transaction is not None:
            item.transaction.start_pending = True
        if item.kind == "meter":
            self._meter_values += 1
            # Only offline: a connected twin delivers every transaction message.
            if self._meter_values > self.MAX_METER_VALUES and not self.twin.online:
                self._drop_oldest_meter_value()
        if item.durable:
            if item.kind == "meter" and len(self._items) == 1 and self._sent_unsaved():
                self.twin.mark_progressed()  # it goes out now
            else:  # it waits (offline, or behind an unanswered message): saved soon
                self.twin.mark_changed()
        self.kick()

    def _sent_unsaved(self) -> bool:
        """Whether a meter value may go out before it is in the saved state: while online
        (a restore counts the energy and skips the 2.0.1 seqNos of the unsaved moments)."""
        return self.twin.online

    def _drop_oldest_meter_value(self) -> None:
        for index, queued in enumerate(self._items):
            # The head may be in flight; never pull it from under the drain.
            if index > 0 and queued.kind == "meter":
                del self._items[index]
                self._meter_values -= 1
                logger.info("%s: offline queue full, dropped a MeterValues", self.twin.config.cid)
                return

    def _popleft(self) -> QueuedMessage:
        """A delivered meter value leaves the saved state with the next save, not at once:
        were the host to die first, the restored twin sends it again (at least once, as a
        restore promises), and one save per meter value is what a fleet can afford."""
        item = self._items.popleft()
        if item.kind == "meter":
            self._meter_values -= 1
        elif item.durable:
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
            self._task = asyncio.get_event_loop().create_task(self._drain())

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
            if (
                store is not None
                and item.durable
                and not item.persisted
                and not (item.kind == "meter" and self._sent_unsaved())
            ):
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
                    if item.kind == "start" and item.transaction is not None:
                        item.transaction.start_pending = False
                        self._delivered(item, None)  # never answered: the session runs on
                    if item.done is not None and not item.done.done():
                        item.done.set_exception(error)
                    continue
                retry = adapter.settings.transaction_message_retry_interval * item.attempts
                await twin.clock.sleep(retry)
                continue
            if self._items and self._items[0] is item:
                self._popleft()
            if item.kind == "start" and item.transaction is not None:
                item.transaction.start_pending = False
            outcome = self._delivered(item, result)
            if outcome is not None:
                await outcome
            if item.done is not None and not item.done.done():
                item.done.set_result(result)

    @staticmethod
    def _send(adapter: ProtocolAdapter, item: QueuedMessage) -> Awaitable[Any]:
        """The adapter's coroutine that sends ``item`` (returned, not awaited here: a
        coroutine between the drain and the adapter's resumes with every step)."""
        if item.kind == "status":
            return adapter.send_status_notification(
                item.connector_id, item.status, item.error_code, item.info
            )
        assert item.transaction is not None
        if item.kind == "start":
            return adapter.send_start_transaction(item.transaction)
        if item.kind == "stop":
            return adapter.send_stop_transaction(item.transaction)
        assert item.sample is not None
        return adapter.send_meter_values(item.sample, item.transaction)


__all__ = [
    "ConnectionLoop",
    "OutboundQueue",
    "SessionHost",
    "basic_auth_header",
    "describe_connect_error",
]

"""The twin's session with its CSMS: connect, boot, report statuses, heartbeat.

:class:`SessionMixin` is the part of :class:`~worker.twin.charge_point.ChargePointTwin`
that the host calls to connect and disconnect, and that
:class:`~worker.twin.connection.ConnectionLoop` calls back for each connection.
"""

from __future__ import annotations

import asyncio
import logging

from worker.twin.connection import ConnectionLoop
from worker.twin.errors import CommandTimeout, CsmsUnreachable, NotConnected, Rejected
from worker.twin.values import BootAnswer, CallFailed

logger = logging.getLogger(__name__)

#: Seconds (simulated) between boot attempts when the CSMS gives no interval.
DEFAULT_BOOT_RETRY = 30
#: Boot reasons (2.0.1 BootReasonEnumType) after which the CSMS hears a ResetOrReboot.
REBOOT_REASONS = frozenset(
    {"ApplicationReset", "LocalReset", "RemoteReset", "ScheduledReset", "Watchdog"}
)


class SessionMixin:
    """Connection lifecycle of :class:`~worker.twin.charge_point.ChargePointTwin`
    (its state lives in the twin's slots)."""

    __slots__ = ()

    # == connection lifecycle =======================================================

    async def start(self) -> None:
        """Connect to the CSMS and keep connected (boot, heartbeat, reconnect)."""
        if self._loop_task is not None and not self._loop_task.done():
            return
        self._loop = ConnectionLoop(self)
        self._loop_task = asyncio.ensure_future(self._loop.run())
        self._reschedule()

    async def connected(self, timeout: float = 30.0) -> None:
        """Wait (real seconds) until the CSMS has accepted the boot.

        Raises Rejected when the CSMS rejects the boot, and on timeout
        CommandTimeout (boot Pending or no answer) or NotConnected (no connection),
        saying what happened.
        """
        if self.online:
            return
        if self._loop_task is None or self._loop_task.done():
            raise NotConnected(f"charge point {self.config.cid} is not started; connect it first")
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            raise self._not_online_error(timeout) from None
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)

    def _not_online_error(self, waited: float | None = None) -> Exception:
        cid = self.config.cid
        after = f" after {waited:g} s" if waited is not None else ""
        if self.connected_to_csms and self._boot_status == "Pending":
            return CommandTimeout(f"{self._retry_message or 'BootNotification Pending'}{after}")
        if self.connected_to_csms and self._boot_status == "Rejected":
            return Rejected(self._retry_message or "BootNotification Rejected")
        if self.connected_to_csms:
            return CommandTimeout(f"charge point {cid} is connected but not booted yet{after}")
        if self._last_error:
            return NotConnected(f"charge point {cid} is not connected: {self._last_error}")
        return NotConnected(f"charge point {cid} is not connected to its CSMS")

    def _resolve_waiters(self, error: Exception | None = None) -> None:
        if not self._waiters:
            return
        for waiter in self._waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)
        self._waiters = None

    async def stop(self) -> None:
        """Disconnect and stop reconnecting. Transactions keep running; their
        messages are queued for the next :meth:`start`."""
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._loop = None
        if self.online or self.connected_to_csms:
            self.session_ended("stopped")
        self._resolve_waiters(NotConnected(f"charge point {self.config.cid} was disconnected"))

    async def close(self) -> None:
        """Stop everything the twin runs (for the host's shutdown and tests)."""
        await self.stop()
        self._cancel_timer()
        for task in self._tasks or ():
            task.cancel()
        self.queue.cancel()
        await asyncio.gather(*(self._tasks or ()), return_exceptions=True)

    # -- called by the ConnectionLoop ------------------------------------------------

    def connection_failed(self, message: str, definitive: bool = False) -> None:
        """A connect failed. A ``definitive`` failure (refused, unresolvable, unauthorised)
        answers whoever waits for the connection at once instead of at their timeout; the
        twin keeps retrying with back-off, as a charger does, until it is disconnected."""
        self._last_error = message
        logger.warning("%s: %s", self.config.cid, message)
        if definitive:
            self._resolve_waiters(
                CsmsUnreachable(
                    f"{message}. The charge point keeps retrying in the background (back-off "
                    "up to 60 simulated seconds) until it connects or disconnect-charger "
                    "stops it"
                )
            )

    def retrying_in(self, delay: float) -> None:
        logger.info("%s: reconnecting in %.1f s (simulated)", self.config.cid, delay)

    async def run_session(self) -> None:
        """One connection: boot if needed, report statuses, then serve until closed."""
        self.connected_to_csms = True
        self._last_error = None
        self._session_end = asyncio.get_running_loop().create_future()
        self._emit_charge_point()
        if self._needs_boot:
            await self._boot()
        self.online = True
        self._heartbeat_due = self.clock.monotonic() + self.heartbeat_period()
        self._reschedule()
        self._emit_charge_point()
        await self._send_status(0, self._charge_point_status(), self._cp_error(), None)
        for connector in self._connectors.values():
            # Reported as the CSMS hears it, even when unchanged: whoever stored the
            # status meanwhile (a host that marked it Unavailable, say) learns it again.
            connector.status = self._derive_status(connector)
            connector.reported_status = connector.status
            connector.status_since = None
            self.sink(self._connector_event(connector))
            self.mark_changed()
            await self._send_status(
                connector.connector_id,
                connector.status,
                connector.error_code or "NoError",
                connector.fault_info,
            )
        self.queue.kick()
        self.security_events.kick()
        # Connected means: booted and the CSMS knows every connector's status.
        self._resolve_waiters()
        await self._session_end

    async def _send_status(
        self, connector_id: int, status: str, error_code: str, info: str | None
    ) -> None:
        try:
            await self.adapter.send_status_notification(connector_id, status, error_code, info)
        except CallFailed as error:
            logger.warning("%s: StatusNotification failed: %s", self.config.cid, error)

    async def _boot(self) -> None:
        while True:
            try:
                answer = await self.adapter.send_boot_notification(self._boot_reason)
            except CallFailed as error:
                answer = BootAnswer("Pending", DEFAULT_BOOT_RETRY)
                logger.warning("%s: BootNotification failed: %s", self.config.cid, error)
            self._boot_status = answer.status
            if answer.status == "Accepted":
                self._needs_boot = False
                self._retry_message = None
                if self._boot_reason in REBOOT_REASONS:
                    self.security_events.record("ResetOrReboot", f"boot reason {self._boot_reason}")
                if answer.interval > 0:
                    self.adapter.heartbeat_interval_from_boot(answer.interval)
                return
            retry = answer.interval if answer.interval > 0 else DEFAULT_BOOT_RETRY
            self._retry_message = f"BootNotification {answer.status}, retrying in {retry} s"
            logger.info("%s: %s", self.config.cid, self._retry_message)
            self._emit_charge_point()
            if answer.status == "Rejected":
                self._resolve_waiters(
                    Rejected(
                        f"CSMS at {self.config.csms_url} rejected the BootNotification, "
                        f"retrying in {retry} s"
                    )
                )
            await self.clock.sleep(retry)

    def session_ended(self, reason: str) -> bool:
        """The connection is gone; True if it got as far as an accepted boot."""
        lasted = self.online
        self.online = False
        self.connected_to_csms = False
        self._heartbeat_due = None
        self.queue.cancel()
        self.queue.drop_volatile()
        for item in self.queue.durable_items():
            # A command waiting on this message returns now: it is queued, not lost.
            if item.done is not None and not item.done.done():
                item.done.set_result(None)
        if self._session_end is not None and not self._session_end.done():
            self._session_end.cancel()
        self._session_end = None
        logger.info("%s: disconnected (%s)", self.config.cid, reason)
        for connector in self._connectors.values():
            tx = connector.transaction
            if tx is not None and tx.start_pending:
                self._publish(connector)  # Preparing only while the CSMS is to answer
        self._emit_charge_point()
        self._reschedule()
        return lasted

    def reconnect(self) -> None:
        """Close the connection and open a new one at once (no boot: the charger did not
        restart), e.g. to present a new client certificate."""
        if self._loop is not None:
            self._loop.reconnect_now = True
        if self._session_end is not None and not self._session_end.done():
            self._session_end.set_result(None)

    async def trigger_boot(self) -> None:
        """TriggerMessage BootNotification: boot again on this connection."""
        answer = await self.adapter.send_boot_notification("Triggered")
        if answer.status == "Accepted" and answer.interval > 0:
            self.adapter.heartbeat_interval_from_boot(answer.interval)
            self._heartbeat_due = self.clock.monotonic() + answer.interval
            self._reschedule()

    async def send_heartbeat(self) -> None:
        await self.adapter.send_heartbeat()
        self._last_heartbeat = self.now()
        self._emit_charge_point()

    async def _periodic_heartbeat(self) -> None:
        self._heartbeating = True
        try:
            await self.send_heartbeat()
        finally:
            self._heartbeating = False

"""Firmware updates and log uploads, the same for OCPP 1.6 and 2.0.1.

A charge point twin has no firmware to replace and no log files, so what the CSMS
sees is simulated, step by step on the twin's clock (so ``speed`` makes it faster):

* a firmware update (:class:`FirmwareUpdate`): wait for the retrieve time
  (DownloadScheduled), download (Downloading → Downloaded, ``DOWNLOAD_SECONDS``; a
  failed download is retried ``retries`` times, ``retry_interval`` apart, then
  DownloadFailed), verify the signature of a signed update (SignatureVerified or
  InvalidSignature), wait for the install time (InstallScheduled), end the running
  transactions (stop reason Reboot) and install (Installing, ``INSTALL_SECONDS``;
  InstallationFailed), then reboot and boot again with reason FirmwareUpdate. Installed
  is reported before the reboot in plain OCPP 1.6, after the new boot otherwise
  (InstallRebooting before the reboot), as OCPP 2.0.1 and the 1.6 security whitepaper
  describe. The firmware version the twin reports from then on (BootNotification) is the
  one in the location's file name (``.../fw-2.1.0.bin`` → ``2.1.0``), if it names one.
* a log upload (:class:`LogUpload`, 1.6 GetDiagnostics and GetLog, 2.0.1 GetLog):
  Uploading, then a small text file (the charge point's identity, statuses,
  transactions and firmware state) sent with an HTTP PUT, then Uploaded or UploadFailed
  (retried as a download is).

Nothing is downloaded: a download fails when the location is not an absolute URL of a
scheme a charger would use (http, https, ftp, ftps, sftp), or when the user asked for it
(:attr:`FirmwareSimulator.failure`). A signing certificate that is not PEM is answered
InvalidCertificate, and a signature is "verified" when it is base64; each failure also
sends the SecurityEventNotification the specifications ask for
(InvalidFirmwareSigningCertificate, InvalidFirmwareSignature). A log is uploaded only to
an http(s) URL on this machine (localhost, 127.0.0.1, ::1): the twin never sends data
to another host, and reports UploadFailed for any other location (ftp, another host, a
refused or failed request). A location ending with ``/`` gets the file name appended.

The adapter of each version builds the messages (:class:`FirmwareReporter`); the
domain words are those of OCPP 2.0.1 (FirmwareStatusEnumType, UploadLogStatusEnumType
with UploadFailed for UploadFailure), which each adapter maps.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx
from ocpp.exceptions import PropertyConstraintViolationError

from worker.twin.smart_charging import format_time
from worker.twin.state import time_from_state, time_to_state
from worker.twin.values import CallFailed, ConnectionLost, InvalidOutgoingCall
from worker.twin.wire import parse_time

if TYPE_CHECKING:
    from worker.twin.protocol import Twin

logger = logging.getLogger(__name__)

#: Simulated seconds each step takes (module values, so that a test may change them).
DOWNLOAD_SECONDS = 4.0
VERIFY_SECONDS = 1.0
INSTALL_SECONDS = 4.0
UPLOAD_SECONDS = 1.0
#: Simulated seconds between checks whether the twin has booted again after a reboot.
BOOT_POLL_SECONDS = 1.0
#: Real seconds an upload's HTTP request may take.
UPLOAD_TIMEOUT = 10.0

FirmwareFailure = Literal["none", "download", "signature", "install"]
FIRMWARE_FAILURES: tuple[FirmwareFailure, ...] = ("none", "download", "signature", "install")

#: The upload words of this module → UploadLogStatusEnumType (GetLog's notification).
UPLOAD_LOG_STATUS = {"UploadFailed": "UploadFailure"}

DOWNLOAD_SCHEMES = frozenset({"http", "https", "ftp", "ftps", "sftp"})
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class FirmwareReporter(Protocol):
    """What an adapter gives the simulator: its twin and the messages of its version."""

    twin: Twin

    def after_answer(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the answer to the CALL being handled is sent."""
        ...

    async def send_firmware_status(self, update: FirmwareUpdate, status: str) -> None:
        """Report a firmware status (a 2.0.1 FirmwareStatusEnumType word)."""
        ...

    async def send_upload_status(self, upload: LogUpload, status: str) -> None:
        """Report a log upload status: Uploading, Uploaded, UploadFailed or Idle."""
        ...

    async def send_firmware_security_event(self, kind: str) -> None:
        """A SecurityEventNotification (InvalidFirmwareSignature...)."""
        ...


@dataclass(slots=True)
class FirmwareUpdate:
    """One UpdateFirmware / SignedUpdateFirmware, and how far it has come.

    ``kind``: ``"plain"`` (1.6 UpdateFirmware), ``"signed"`` (1.6
    SignedUpdateFirmware) or ``"v201"`` (2.0.1 UpdateFirmware, signed or not).
    ``stage``: ``scheduled``, ``downloading``, ``installing`` or ``rebooting`` (the
    reboot has begun; Installed is still to be reported).
    """

    kind: Literal["plain", "signed", "v201"]
    location: str
    retrieve_at: datetime
    request_id: int | None = None
    install_at: datetime | None = None
    retries: int = 0
    retry_interval: float = 0.0
    signature: str | None = None
    signing_certificate: str | None = None
    stage: str = "scheduled"
    attempt: int = 0

    @property
    def installed_after_reboot(self) -> bool:
        return self.kind != "plain"

    def to_state(self) -> dict[str, Any]:
        data = asdict(self)
        data["retrieve_at"] = time_to_state(self.retrieve_at)
        data["install_at"] = time_to_state(self.install_at)
        return data

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> FirmwareUpdate:
        values = dict(data)
        values["retrieve_at"] = time_from_state(data["retrieve_at"])
        values["install_at"] = time_from_state(data.get("install_at"))
        return cls(**values)


@dataclass(slots=True)
class LogUpload:
    """One GetDiagnostics / GetLog. ``kind``: ``"diagnostics"`` (1.6 GetDiagnostics)
    or ``"log"`` (GetLog of either version); ``request_id`` for GetLog."""

    kind: Literal["diagnostics", "log"]
    location: str
    file_name: str
    request_id: int | None = None
    log_type: str = "DiagnosticsLog"
    oldest: datetime | None = None
    latest: datetime | None = None
    retries: int = 0
    retry_interval: float = 0.0


#: File extensions after a version: ``.bin``, ``.tar.gz``...
_EXTENSIONS = re.compile(r"(?:\.[A-Za-z][A-Za-z0-9]{0,4})+$")
_VERSION = re.compile(r"\d+(?:\.\d+)+(?:[-+][0-9A-Za-z.-]*[0-9A-Za-z])?")


def version_in(location: str) -> str | None:
    """The version a firmware file name carries (``fw-2.1.0.bin`` → ``2.1.0``), if any."""
    name = location.rstrip("/").rsplit("/", 1)[-1]
    name = _EXTENSIONS.sub("", name)
    found = _VERSION.findall(name)
    return found[-1][:50] if found else None


def required_time(field: str, value: str) -> datetime:
    """A date-time the CSMS sent, in UTC when it gives no offset; a
    PropertyConstraintViolation CALLERROR when it is not one."""
    when = parse_time(value)
    if when is None:
        raise PropertyConstraintViolationError(
            details={"cause": f"{field} is not a date-time: {value!r}"}
        )
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def download_possible(location: str) -> bool:
    """Whether a charger could try to fetch firmware from ``location``."""
    try:
        parts = urlsplit(location)
    except ValueError:
        return False
    return parts.scheme.lower() in DOWNLOAD_SCHEMES and bool(parts.hostname)


def upload_target(location: str, file_name: str) -> str | None:
    """The URL to PUT the file to, or None when the twin does not upload there (not
    http(s), or not on this machine)."""
    try:
        parts = urlsplit(location)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or host not in LOCAL_HOSTS:
        return None
    return location + file_name if location.endswith("/") else location


def signature_valid(signature: str | None, certificate: str | None) -> bool:
    """The form of a signature (base64) and a signing certificate (PEM), which is all the
    twin can check without the firmware image."""
    if not signature:
        return False
    try:
        base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    return certificate is None or certificate_well_formed(certificate)


def certificate_well_formed(certificate: str) -> bool:
    """Whether ``certificate`` is a PEM certificate (its base64 body decodes)."""
    text = certificate.strip()
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    if not (text.startswith(begin) and text.endswith(end)):
        return False
    body = "".join(text[len(begin) : -len(end)].split())
    try:
        return bool(base64.b64decode(body, validate=True))
    except (binascii.Error, ValueError):
        return False


class FirmwareSimulator:
    """The firmware update and the log upload of one twin (at most one of each).

    Made by the adapter when first needed. ``failure`` makes the next updates fail at
    one step (``download``: every attempt fails, so the retries run;
    ``signature``: InvalidSignature; ``install``: InstallationFailed), for testing how
    a CSMS handles it. The update in progress and ``failure`` are saved with the twin
    (:meth:`to_state`); an upload in progress is not.
    """

    __slots__ = (
        "_update_task",
        "_upload_task",
        "failure",
        "firmware_status",
        "installed_version",
        "reporter",
        "update",
        "upload",
        "upload_status",
    )

    def __init__(self, reporter: FirmwareReporter) -> None:
        self.reporter = reporter
        self.failure: FirmwareFailure = "none"
        self.update: FirmwareUpdate | None = None
        self.upload: LogUpload | None = None
        #: The last status of the update (Idle once it is over), for TriggerMessage.
        self.firmware_status = "Idle"
        self.upload_status = "Idle"
        #: The version the last installed update brought, None before any.
        self.installed_version: str | None = None
        self._update_task: asyncio.Task[None] | None = None
        self._upload_task: asyncio.Task[None] | None = None

    @property
    def twin(self) -> Twin:
        return self.reporter.twin

    # -- firmware -------------------------------------------------------------------------

    @property
    def updating(self) -> bool:
        return self.update is not None

    def start_update(self, update: FirmwareUpdate) -> bool:
        """Begin ``update`` (after the answer to its CALL); True when it replaces one in
        progress (which is cancelled: 2.0.1 answers AcceptedCanceled)."""
        replaced = self.cancel_update()
        self.update = update
        self.twin.mark_changed()
        self.reporter.after_answer(lambda: self.twin.spawn(self._update_steps(update)))
        return replaced

    def cancel_update(self) -> bool:
        task, self._update_task = self._update_task, None
        if task is not None and not task.done():
            task.cancel()
        replaced = self.update is not None
        self.update = None
        self.firmware_status = "Idle"
        return replaced

    def resume(self) -> None:
        """Carry on with a restored update (called on each new connection)."""
        if self.update is not None and self._update_task is None:
            self.twin.spawn(self._update_steps(self.update))

    async def _report(self, update: FirmwareUpdate, status: str) -> None:
        self.firmware_status = status
        try:
            await self.reporter.send_firmware_status(update, status)
        except (ConnectionLost, CallFailed, InvalidOutgoingCall) as error:
            logger.info("%s: firmware status %s not delivered: %s", self._cid, status, error)

    async def _conclude(self, update: FirmwareUpdate, status: str) -> None:
        """Report the last status, the update already over: what the CSMS does on hearing
        it (a new update, a trigger) finds the twin idle."""
        self._finish(update)
        try:
            await self.reporter.send_firmware_status(update, status)
        except (ConnectionLost, CallFailed, InvalidOutgoingCall) as error:
            logger.info("%s: firmware status %s not delivered: %s", self._cid, status, error)

    async def _security_event(self, kind: str) -> None:
        try:
            await self.reporter.send_firmware_security_event(kind)
        except (ConnectionLost, CallFailed, InvalidOutgoingCall) as error:
            logger.info("%s: security event %s not delivered: %s", self._cid, kind, error)

    @property
    def _cid(self) -> str:
        return self.twin.config.cid

    async def _sleep_until(self, when: datetime) -> None:
        seconds = (when - self.twin.now()).total_seconds()
        if seconds > 0:
            await self.twin.clock.sleep(seconds)

    def _advance(self, update: FirmwareUpdate, stage: str) -> None:
        update.stage = stage
        self.twin.mark_changed()

    async def _update_steps(self, update: FirmwareUpdate) -> None:
        if self.update is not update or self._update_task is not None:
            return  # replaced before it began, or already running
        self._update_task = asyncio.current_task()
        try:
            await self._update_stages(update)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s: firmware update failed", self._cid)
            self._finish(update)

    async def _update_stages(self, update: FirmwareUpdate) -> None:
        twin = self.twin
        if update.stage == "scheduled":
            if update.retrieve_at > twin.now():
                await self._report(update, "DownloadScheduled")
                await self._sleep_until(update.retrieve_at)
            self._advance(update, "downloading")
        if update.stage == "downloading":
            if not await self._download(update):
                await self._conclude(update, "DownloadFailed")
                return
            await self._report(update, "Downloaded")
            if update.kind != "plain" and update.signature is not None:
                await twin.clock.sleep(VERIFY_SECONDS)
                valid = signature_valid(update.signature, update.signing_certificate)
                if not valid or self.failure == "signature":
                    await self._conclude(update, "InvalidSignature")
                    await self._security_event("InvalidFirmwareSignature")
                    return
                await self._report(update, "SignatureVerified")
            if update.install_at is not None and update.install_at > twin.now():
                if update.kind != "plain":
                    await self._report(update, "InstallScheduled")
                await self._sleep_until(update.install_at)
            self._advance(update, "installing")
        if update.stage == "installing":
            await twin.end_transactions("Reboot")
            await self._report(update, "Installing")
            await twin.clock.sleep(INSTALL_SECONDS)
            if self.failure == "install":
                await self._conclude(update, "InstallationFailed")
                return
            await self._report(
                update, "InstallRebooting" if update.installed_after_reboot else "Installed"
            )
            self.installed_version = version_in(update.location) or self.installed_version
            self._advance(update, "rebooting")
            await twin.reboot("Reboot", "FirmwareUpdate")
        if update.stage == "rebooting":
            while not twin.booted():
                await twin.clock.sleep(BOOT_POLL_SECONDS)
            if update.installed_after_reboot:
                await self._conclude(update, "Installed")
            else:
                self._finish(update)

    async def _download(self, update: FirmwareUpdate) -> bool:
        """Try ``1 + retries`` times; True once an attempt succeeds."""
        while True:
            update.attempt += 1
            self.twin.mark_changed()
            await self._report(update, "Downloading")
            await self.twin.clock.sleep(DOWNLOAD_SECONDS)
            if self.failure != "download" and download_possible(update.location):
                return True
            logger.info("%s: firmware download %d failed", self._cid, update.attempt)
            if update.attempt > update.retries:
                return False
            await self.twin.clock.sleep(update.retry_interval)

    def _finish(self, update: FirmwareUpdate) -> None:
        if self.update is update:
            self.update = None
            self._update_task = None
            self.twin.mark_changed()
        self.firmware_status = "Idle"

    # -- log upload ------------------------------------------------------------------------

    def start_upload(self, upload: LogUpload) -> bool:
        """Begin ``upload`` after the answer; True when it replaces one in progress."""
        task, self._upload_task = self._upload_task, None
        replaced = task is not None and not task.done()
        if task is not None:
            task.cancel()
        self.upload = upload
        self.reporter.after_answer(lambda: self.twin.spawn(self._upload_steps(upload)))
        return replaced

    async def _report_upload(self, upload: LogUpload, status: str) -> None:
        self.upload_status = status
        try:
            await self.reporter.send_upload_status(upload, status)
        except (ConnectionLost, CallFailed, InvalidOutgoingCall) as error:
            logger.info("%s: upload status %s not delivered: %s", self._cid, status, error)

    async def _upload_steps(self, upload: LogUpload) -> None:
        if self.upload is not upload:
            return
        self._upload_task = asyncio.current_task()
        attempt = 0
        status = "UploadFailed"
        try:
            while True:
                attempt += 1
                await self._report_upload(upload, "Uploading")
                await self.twin.clock.sleep(UPLOAD_SECONDS)
                try:
                    uploaded = await self._put(upload)
                except Exception:
                    logger.exception("%s: upload to %s failed", self._cid, upload.location)
                    uploaded = False
                if uploaded:
                    status = "Uploaded"
                    break
                if attempt > upload.retries:
                    break
                await self.twin.clock.sleep(upload.retry_interval)
        finally:
            if self.upload is upload:
                self.upload = None
                self._upload_task = None
                self.upload_status = "Idle"
        try:
            await self.reporter.send_upload_status(upload, status)
        except (ConnectionLost, CallFailed, InvalidOutgoingCall) as error:
            logger.info("%s: upload status %s not delivered: %s", self._cid, status, error)

    async def _put(self, upload: LogUpload) -> bool:
        target = upload_target(upload.location, upload.file_name)
        if target is None:
            logger.info(
                "%s: not uploading to %s (not http(s) on this machine)", self._cid, upload.location
            )
            return False
        body = self.log_text(upload).encode()
        try:
            async with httpx.AsyncClient(timeout=UPLOAD_TIMEOUT, verify=False) as client:
                response = await client.put(
                    target, content=body, headers={"Content-Type": "text/plain; charset=utf-8"}
                )
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as error:
            logger.info("%s: upload to %s failed: %s", self._cid, target, error)
            return False
        if response.is_success:
            return True
        logger.info("%s: upload to %s answered %d", self._cid, target, response.status_code)
        return False

    def log_text(self, upload: LogUpload) -> str:
        """The file uploaded: what a support engineer would want from a charger."""
        twin = self.twin
        config = twin.config
        lines = [
            f"# {upload.log_type} of {config.cid}",
            f"generated: {twin.now().isoformat()}",
            f"window: {_iso(upload.oldest)} .. {_iso(upload.latest)}",
            f"vendor: {config.vendor}",
            f"model: {config.model}",
            f"serial number: {config.serial_number or '-'}",
            f"firmware version: {self.installed_version or config.firmware_version}",
            f"protocol: {config.protocol}",
            f"csms: {config.csms_url}",
            f"online: {twin.online}",
            f"firmware status: {self.firmware_status}",
        ]
        status, error_code, _ = twin.status_of(0)
        lines.append(f"connector 0: {status} ({error_code})")
        for connector in twin.connectors():
            status, error_code, info = twin.status_of(connector.connector_id)
            line = f"connector {connector.connector_id}: {status} ({error_code})"
            if info:
                line += f" {info}"
            tx = connector.transaction
            if tx is not None:
                ref = tx.csms_transaction_id or tx.ref
                line += f"; transaction {ref} since {_iso(tx.start_time)}"
            lines.append(line)
        return "\n".join(lines) + "\n"

    # -- saved state -----------------------------------------------------------------------

    def to_state(self) -> dict[str, Any] | None:
        """None when there is nothing to keep."""
        if self.update is None and self.failure == "none" and self.installed_version is None:
            return None
        return {
            "failure": self.failure,
            "installed_version": self.installed_version,
            "update": self.update.to_state() if self.update is not None else None,
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Take back :meth:`to_state`; the update carries on at :meth:`resume`, from the
        start of its stage (a download or an install begins again)."""
        failure = data.get("failure", "none")
        self.failure = failure if failure in FIRMWARE_FAILURES else "none"
        self.installed_version = data.get("installed_version")
        update = data.get("update")
        if update:
            self.update = FirmwareUpdate.from_state(update)
            self.firmware_status = "Idle"


class FirmwareAdapterMixin:
    """The plumbing both adapters share: one :class:`FirmwareSimulator`, made when
    first needed (most twins never see a firmware update, and pay nothing), carried on
    after a reconnect and saved with the adapter's state. Mix in before
    :class:`~worker.twin.wire.OcppJAdapter`."""

    _firmware: FirmwareSimulator | None = None

    def firmware(self) -> FirmwareSimulator:
        simulator = self._firmware
        if simulator is None:
            simulator = self._firmware = FirmwareSimulator(self)  # type: ignore[arg-type]
        return simulator

    def attach(self, connection: Any) -> None:
        super().attach(connection)  # type: ignore[misc]
        if self._firmware is not None:
            self._firmware.resume()

    async def send_firmware_security_event(self, kind: str) -> None:
        """SecurityEventNotification, the same in 1.6 (security whitepaper) and 2.0.1."""
        adapter: Any = self
        payload = {"type": kind, "timestamp": format_time(adapter.twin.now())}
        await adapter._call("SecurityEventNotification", payload)

    def reject_signing_certificate(self) -> None:
        """After answering InvalidCertificate: the security event the specifications ask
        for (2.0.1 L01.FR.02, 1.6 security whitepaper)."""
        adapter: Any = self
        event = self.send_firmware_security_event("InvalidFirmwareSigningCertificate")
        adapter.after_answer(lambda: adapter.twin.spawn(event))

    def start_log_upload(
        self,
        log: dict[str, Any],
        log_type: str,
        request_id: int,
        retries: int | None,
        retry_interval: int | None,
    ) -> tuple[str, bool]:
        """GetLog, the same in 1.6 (security whitepaper) and 2.0.1: start uploading the
        log; its file name, and whether it replaced an upload under way."""
        adapter: Any = self
        oldest, latest = log.get("oldest_timestamp"), log.get("latest_timestamp")
        file_name = diagnostics_file_name(adapter.id, adapter.twin.now(), log_type)
        upload = LogUpload(
            "log",
            log["remote_location"],
            file_name,
            request_id=request_id,
            log_type=log_type,
            oldest=required_time("oldestTimestamp", oldest) if oldest else None,
            latest=required_time("latestTimestamp", latest) if latest else None,
            retries=max(retries or 0, 0),
            retry_interval=max(retry_interval or 0, 0),
        )
        return file_name, self.firmware().start_upload(upload)

    def firmware_state(self) -> dict[str, Any] | None:
        return self._firmware.to_state() if self._firmware is not None else None

    def restore_firmware_state(self, data: dict[str, Any] | None) -> None:
        if data:
            self.firmware().restore(data)

    def reported_firmware_version(self, configured: str) -> str:
        """What the charge point reports: the installed update's version, else ``configured``."""
        simulator = self._firmware
        installed = simulator.installed_version if simulator is not None else None
        return installed or configured

    def firmware_status(self) -> str:
        """The update's last status, Idle when none runs (for TriggerMessage)."""
        return self._firmware.firmware_status if self._firmware is not None else "Idle"

    def upload_in_progress(self, kind: str) -> LogUpload | None:
        simulator = self._firmware
        upload = simulator.upload if simulator is not None else None
        return upload if upload is not None and upload.kind == kind else None


def _iso(when: datetime | None) -> str:
    return when.isoformat() if when is not None else "-"


def diagnostics_file_name(cid: str, now: datetime, kind: str = "diagnostics") -> str:
    """e.g. ``CP1-diagnostics-20260126T101500Z.txt``."""
    stamp = (now - timedelta(microseconds=now.microsecond)).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in cid)
    return f"{safe}-{kind}-{stamp}.txt"


__all__ = [
    "FIRMWARE_FAILURES",
    "UPLOAD_LOG_STATUS",
    "FirmwareAdapterMixin",
    "FirmwareFailure",
    "FirmwareReporter",
    "FirmwareSimulator",
    "FirmwareUpdate",
    "LogUpload",
    "certificate_well_formed",
    "diagnostics_file_name",
    "download_possible",
    "required_time",
    "signature_valid",
    "upload_target",
    "version_in",
]

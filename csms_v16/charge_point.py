"""The OCPP 1.6 side of one charge point connection: a handler per action it may send."""

from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action

from shared.csms.session import CsmsSession
from shared.csms.state import (
    ConnectorStatus,
    MeterValueRecord,
    Transaction,
    ocpp_now,
    utc_now,
)

CSMS_INITIATED_ACTIONS = frozenset(
    {
        "CancelReservation",
        "CertificateSigned",
        "ChangeAvailability",
        "ChangeConfiguration",
        "ClearCache",
        "ClearChargingProfile",
        "DataTransfer",
        "DeleteCertificate",
        "ExtendedTriggerMessage",
        "GetCompositeSchedule",
        "GetConfiguration",
        "GetDiagnostics",
        "GetInstalledCertificateIds",
        "GetLocalListVersion",
        "GetLog",
        "InstallCertificate",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "SignedUpdateFirmware",
        "TriggerMessage",
        "UnlockConnector",
        "UpdateFirmware",
    }
)
"""Every CALL a central system may send in OCPP 1.6, with the security whitepaper's."""


class ChargePoint16(CsmsSession, OcppChargePoint):
    @on(Action.boot_notification)
    def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        status, interval = self.state.boot_answer()
        record = self.record
        record.boot_notification = self.payload
        record.boot_status = status
        record.booted_at = utc_now()
        return call_result.BootNotification(
            current_time=ocpp_now(), interval=interval, status=status
        )

    @on(Action.heartbeat)
    def on_heartbeat(self) -> call_result.Heartbeat:
        self.record.last_heartbeat = utc_now()
        return call_result.Heartbeat(current_time=ocpp_now())

    @on(Action.status_notification)
    def on_status_notification(
        self,
        connector_id: int,
        error_code: str,
        status: str,
        info: str | None = None,
        timestamp: str | None = None,
        **_: Any,
    ) -> call_result.StatusNotification:
        self.record.set_connector_status(
            ConnectorStatus(connector_id, status, None, error_code, info, timestamp)
        )
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info=IdTagInfo(status=self.state.authorize(id_tag)))

    @on(Action.start_transaction)
    def on_start_transaction(
        self,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        timestamp: str,
        reservation_id: int | None = None,
    ) -> call_result.StartTransaction:
        """Answers a transaction id even for an unknown tag: the charge point then stops it."""
        status = self.state.authorize(id_tag)
        transaction = Transaction(
            id=self.state.next_transaction_id(),
            charge_point_id=self.record.id,
            connector_id=connector_id,
            id_tag=id_tag,
            id_tag_status=status,
            started_at=timestamp,
            meter_start=meter_start,
            reservation_id=reservation_id,
        )
        self.state.add_transaction(transaction)
        return call_result.StartTransaction(
            transaction_id=int(transaction.id), id_tag_info=IdTagInfo(status=status)
        )

    @on(Action.stop_transaction)
    def on_stop_transaction(
        self,
        transaction_id: int,
        meter_stop: int,
        timestamp: str,
        id_tag: str | None = None,
        reason: str | None = None,
        **_: Any,
    ) -> call_result.StopTransaction:
        transaction = self.state.transaction(self.record.id, transaction_id)
        if transaction is None:
            self.logger.warning(
                "%s: StopTransaction for unknown transaction %s", self.record.id, transaction_id
            )
            transaction = Transaction(id=transaction_id, charge_point_id=self.record.id)
            self.state.add_transaction(transaction)
        transaction.stopped_at = timestamp
        transaction.meter_stop = meter_stop
        transaction.stop_reason = reason or "Local"
        transaction.ended = True
        transaction.meter_values.extend(
            MeterValueRecord.from_wire(value, "StopTransaction")
            for value in self.payload.get("transactionData", ())
        )
        if id_tag is None:
            return call_result.StopTransaction()
        return call_result.StopTransaction(
            id_tag_info=IdTagInfo(status=self.state.authorize(id_tag))
        )

    @on(Action.meter_values)
    def on_meter_values(
        self, connector_id: int, transaction_id: int | None = None, **_: Any
    ) -> call_result.MeterValues:
        meter_values = self.payload.get("meterValue", [])
        transaction = (
            self.state.transaction(self.record.id, transaction_id)
            if transaction_id is not None
            else None
        )
        if transaction is None:
            self.loose_meter_values(meter_values, "MeterValues")
        else:
            transaction.meter_values.extend(
                MeterValueRecord.from_wire(value, "MeterValues") for value in meter_values
            )
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        self.note("DataTransfer")
        return call_result.DataTransfer(status="Accepted")

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(
        self, **_: Any
    ) -> call_result.DiagnosticsStatusNotification:
        self.note("DiagnosticsStatusNotification")
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, **_: Any) -> call_result.FirmwareStatusNotification:
        self.note("FirmwareStatusNotification")
        return call_result.FirmwareStatusNotification()

    @on(Action.security_event_notification)
    def on_security_event_notification(self, **_: Any) -> call_result.SecurityEventNotification:
        self.note("SecurityEventNotification")
        return call_result.SecurityEventNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(
        self, **_: Any
    ) -> call_result.SignedFirmwareStatusNotification:
        self.note("SignedFirmwareStatusNotification")
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, **_: Any) -> call_result.LogStatusNotification:
        self.note("LogStatusNotification")
        return call_result.LogStatusNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, csr: str, **_: Any) -> call_result.SignCertificate:
        """Accepted, with a CertificateSigned after, when a CA is configured
        (`shared.csms.certificates`); Rejected otherwise."""
        self.note("SignCertificate")
        return call_result.SignCertificate(status=self.answer_csr(csr))

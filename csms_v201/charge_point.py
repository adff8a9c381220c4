"""The OCPP 2.0.1 side of one charging station connection: a handler per action it may send."""

import base64
from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint as OcppChargePoint
from ocpp.v201 import call_result
from ocpp.v201.datatypes import IdTokenInfoType
from ocpp.v201.enums import Action

from shared.csms.session import CsmsSession
from shared.csms.state import (
    ConnectorStatus,
    MeterValueRecord,
    Transaction,
    TransactionEventRecord,
    ocpp_now,
    utc_now,
)

CSMS_INITIATED_ACTIONS = frozenset(
    {
        "CancelReservation",
        "CertificateSigned",
        "ChangeAvailability",
        "ClearCache",
        "ClearChargingProfile",
        "ClearDisplayMessage",
        "ClearVariableMonitoring",
        "CostUpdated",
        "CustomerInformation",
        "DataTransfer",
        "DeleteCertificate",
        "GetBaseReport",
        "GetChargingProfiles",
        "GetCompositeSchedule",
        "GetDisplayMessages",
        "GetInstalledCertificateIds",
        "GetLocalListVersion",
        "GetLog",
        "GetMonitoringReport",
        "GetReport",
        "GetTransactionStatus",
        "GetVariables",
        "InstallCertificate",
        "PublishFirmware",
        "RequestStartTransaction",
        "RequestStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "SetDisplayMessage",
        "SetMonitoringBase",
        "SetMonitoringLevel",
        "SetNetworkProfile",
        "SetVariableMonitoring",
        "SetVariables",
        "TriggerMessage",
        "UnlockConnector",
        "UnpublishFirmware",
        "UpdateFirmware",
    }
)
"""Every CALL a CSMS may send in OCPP 2.0.1."""

ENERGY_REGISTER = "Energy.Active.Import.Register"
#: What GetCertificateStatus and Get15118EVCertificate answer (base64, not real OCSP / EXI).
DUMMY_OCSP_RESULT = base64.b64encode(b"ELU Twins test CSMS: no OCSP responder").decode()
DUMMY_EXI_RESPONSE = base64.b64encode(b"ELU Twins test CSMS: no contract certificate").decode()


def energy_register_wh(meter_values: list[dict[str, Any]]) -> float | None:
    """The last total (not per-phase) imported energy register among `meter_values`, in Wh."""
    found = None
    for meter_value in meter_values:
        for sampled in meter_value.get("sampledValue", ()):
            if sampled.get("measurand", ENERGY_REGISTER) != ENERGY_REGISTER or "phase" in sampled:
                continue
            unit = sampled.get("unitOfMeasure", {})
            scale = 10 ** unit.get("multiplier", 0) * (1000 if unit.get("unit") == "kWh" else 1)
            found = float(sampled["value"]) * scale
    return found


class ChargePoint201(CsmsSession, OcppChargePoint):
    def authorize_token(self, id_token: dict[str, Any]) -> IdTokenInfoType:
        if id_token.get("type") == "NoAuthorization":
            return IdTokenInfoType(status="Accepted")
        return IdTokenInfoType(status=self.state.authorize(id_token["idToken"]))

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
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        self.record.last_heartbeat = utc_now()
        return call_result.Heartbeat(current_time=ocpp_now())

    @on(Action.status_notification)
    def on_status_notification(
        self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **_: Any
    ) -> call_result.StatusNotification:
        self.record.set_connector_status(
            ConnectorStatus(connector_id, connector_status, evse_id, timestamp=timestamp)
        )
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> call_result.Authorize:
        return call_result.Authorize(id_token_info=self.authorize_token(self.payload["idToken"]))

    @on(Action.transaction_event)
    def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        offline: bool = False,
        reservation_id: int | None = None,
        **_: Any,
    ) -> call_result.TransactionEvent:
        payload = self.payload
        info = payload["transactionInfo"]
        transaction = self.state.transaction(self.record.id, info["transactionId"])
        if transaction is None:
            transaction = Transaction(id=info["transactionId"], charge_point_id=self.record.id)
            self.state.add_transaction(transaction)
        if event_type == "Started":
            transaction.started_at = timestamp
        if evse := payload.get("evse"):
            transaction.evse_id = evse["id"]
            transaction.connector_id = evse.get("connectorId", transaction.connector_id)
        if reservation_id is not None:
            transaction.reservation_id = reservation_id
        if charging_state := info.get("chargingState"):
            transaction.charging_state = charging_state
        transaction.events.append(
            TransactionEventRecord(
                event_type, timestamp, trigger_reason, seq_no, offline, info.get("chargingState")
            )
        )
        if meter_values := payload.get("meterValue"):
            transaction.meter_values.extend(
                MeterValueRecord.from_wire(value, f"TransactionEvent.{event_type}")
                for value in meter_values
            )
            register = energy_register_wh(meter_values)
            if register is not None:
                if transaction.meter_start is None:
                    transaction.meter_start = register
                transaction.meter_stop = register
        if event_type == "Ended":
            transaction.ended = True
            transaction.stopped_at = timestamp
            transaction.stop_reason = info.get("stoppedReason", "Local")
        id_token = payload.get("idToken")
        if id_token is None:
            return call_result.TransactionEvent()
        id_token_info = self.authorize_token(id_token)
        transaction.id_tag = id_token["idToken"]
        transaction.id_tag_status = id_token_info.status
        return call_result.TransactionEvent(id_token_info=id_token_info)

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        source = f"MeterValues.evse{self.payload['evseId']}"
        self.loose_meter_values(self.payload["meterValue"], source)
        return call_result.MeterValues()

    @on(Action.notify_report)
    def on_notify_report(
        self, request_id: int, generated_at: str, tbc: bool = False, **_: Any
    ) -> call_result.NotifyReport:
        self.record.add_report_part(
            request_id, generated_at, tbc, self.payload.get("reportData", [])
        )
        return call_result.NotifyReport()

    @on(Action.notify_event)
    def on_notify_event(self, **_: Any) -> call_result.NotifyEvent:
        self.record.events.append(self.payload)
        return call_result.NotifyEvent()

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        self.note("DataTransfer")
        return call_result.DataTransfer(status="Accepted")

    @on(Action.security_event_notification)
    def on_security_event_notification(self, **_: Any) -> call_result.SecurityEventNotification:
        self.note("SecurityEventNotification")
        return call_result.SecurityEventNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, **_: Any) -> call_result.FirmwareStatusNotification:
        self.note("FirmwareStatusNotification")
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, **_: Any) -> call_result.LogStatusNotification:
        self.note("LogStatusNotification")
        return call_result.LogStatusNotification()

    @on(Action.notify_charging_limit)
    def on_notify_charging_limit(self, **_: Any) -> call_result.NotifyChargingLimit:
        self.note("NotifyChargingLimit")
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    def on_cleared_charging_limit(self, **_: Any) -> call_result.ClearedChargingLimit:
        self.note("ClearedChargingLimit")
        return call_result.ClearedChargingLimit()

    @on(Action.report_charging_profiles)
    def on_report_charging_profiles(self, **_: Any) -> call_result.ReportChargingProfiles:
        self.note("ReportChargingProfiles")
        return call_result.ReportChargingProfiles()

    @on(Action.notify_monitoring_report)
    def on_notify_monitoring_report(
        self, request_id: int, generated_at: str, tbc: bool = False, **_: Any
    ) -> call_result.NotifyMonitoringReport:
        record = self.record
        record.add_report_part(
            request_id,
            generated_at,
            tbc,
            self.payload.get("monitor", []),
            record.monitoring_reports,
        )
        return call_result.NotifyMonitoringReport()

    @on(Action.notify_customer_information)
    def on_notify_customer_information(self, **_: Any) -> call_result.NotifyCustomerInformation:
        self.note("NotifyCustomerInformation")
        return call_result.NotifyCustomerInformation()

    @on(Action.notify_display_messages)
    def on_notify_display_messages(
        self, request_id: int, tbc: bool = False, **_: Any
    ) -> call_result.NotifyDisplayMessages:
        record = self.record
        record.add_report_part(
            request_id,
            ocpp_now(),
            tbc,
            self.payload.get("messageInfo", []),
            record.display_messages,
        )
        return call_result.NotifyDisplayMessages()

    @on(Action.notify_ev_charging_needs)
    def on_notify_ev_charging_needs(self, **_: Any) -> call_result.NotifyEVChargingNeeds:
        self.note("NotifyEVChargingNeeds")
        return call_result.NotifyEVChargingNeeds(status="Accepted")

    @on(Action.notify_ev_charging_schedule)
    def on_notify_ev_charging_schedule(self, **_: Any) -> call_result.NotifyEVChargingSchedule:
        self.note("NotifyEVChargingSchedule")
        return call_result.NotifyEVChargingSchedule(status="Accepted")

    @on(Action.publish_firmware_status_notification)
    def on_publish_firmware_status_notification(
        self, **_: Any
    ) -> call_result.PublishFirmwareStatusNotification:
        self.note("PublishFirmwareStatusNotification")
        return call_result.PublishFirmwareStatusNotification()

    @on(Action.reservation_status_update)
    def on_reservation_status_update(self, **_: Any) -> call_result.ReservationStatusUpdate:
        self.note("ReservationStatusUpdate")
        return call_result.ReservationStatusUpdate()

    @on(Action.sign_certificate)
    def on_sign_certificate(
        self, csr: str, certificate_type: str | None = None, **_: Any
    ) -> call_result.SignCertificate:
        """Accepted, with a CertificateSigned after, when a CA is configured
        (`shared.csms.certificates`); Rejected otherwise."""
        self.note("SignCertificate")
        return call_result.SignCertificate(status=self.answer_csr(csr, certificate_type))

    @on(Action.get_certificate_status)
    def on_get_certificate_status(self, **_: Any) -> call_result.GetCertificateStatus:
        """Accepted with a dummy OCSP result: this test CSMS runs no OCSP responder."""
        self.note("GetCertificateStatus")
        return call_result.GetCertificateStatus(status="Accepted", ocsp_result=DUMMY_OCSP_RESULT)

    @on(Action.get_15118_ev_certificate)
    def on_get_15118_ev_certificate(self, **_: Any) -> call_result.Get15118EVCertificate:
        """Accepted with a dummy EXI response: this test CSMS has no contract certificates."""
        self.note("Get15118EVCertificate")
        return call_result.Get15118EVCertificate(status="Accepted", exi_response=DUMMY_EXI_RESPONSE)

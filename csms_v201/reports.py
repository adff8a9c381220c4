"""OCPP 2.0.1 only: the device model, monitoring and display message reports and the
events a charging station has sent."""

from fastapi import APIRouter

from shared.csms.api import ChargePointDep
from shared.csms.schemas import ReportPublic, ReportsPublic

router = APIRouter(tags=["charge points"])


@router.get("/charge-points/{charge_point_id}/reports")
def read_reports(record: ChargePointDep) -> ReportsPublic:
    """NotifyReport parts gathered per requestId, NotifyEvent payloads, and the
    NotifyMonitoringReport and NotifyDisplayMessages parts gathered per requestId,
    oldest first."""
    return ReportsPublic(
        reports=[ReportPublic.model_validate(report) for report in record.reports.values()],
        events=list(record.events),
        monitoring_reports=[
            ReportPublic.model_validate(report) for report in record.monitoring_reports.values()
        ],
        display_messages=[
            ReportPublic.model_validate(report) for report in record.display_messages.values()
        ],
    )

from __future__ import annotations

from fastapi import APIRouter

from public_api.deps import CommandBusDep, CurrentUser, SessionDep, SettingsDep
from shared.openapi import ACTION, errors
from shared.schemas.action import (
    BulkActionResult,
    BulkChargePointAction,
    BulkStartTransaction,
    BulkStopTransaction,
    CertificateRequest,
    CertificateRequestResult,
    ChargePointAction,
    ConnectorAction,
    DataTransfer,
    DataTransferResult,
    FirmwareFailureResult,
    PlugIn,
    SetFaulted,
    SetFirmwareFailure,
    StartTransaction,
    StopTransaction,
)
from shared.schemas.charge_point import ChargePointPublic, ConnectorPublic
from shared.schemas.transaction import TransactionPublic
from worker import actions

router = APIRouter(prefix="/twin/charge-point/action", tags=["actions"])

BULK_ERRORS = errors(
    {
        422: "a malformed body, more than 1,000 items, or pacing over 300 s",
        503: "no twin host (or Redis) can be reached: no item was begun",
    }
)
BULK = (
    " One request for up to 1,000 items, begun `rate` per second (default: all at once);"
    " answers once all have finished (or `timeout` after the last one began) with one"
    " outcome per item, in order: `ok`, or the status and `code` the single action would"
    " have answered (404 for what is not yours, 409 not connected, 504 timeout...)."
)


@router.post(
    "/connect-charger",
    responses=ACTION,
    summary="Connect to the CSMS and boot; answers once the boot is accepted",
    description="A 409 with code `message_rate` when the user's connected charge points "
    "could then send more periodic messages a real second than "
    "ELU_MAX_USER_MESSAGES_PER_SECOND allows.",
)
def connect_charger(
    session: SessionDep,
    settings: SettingsDep,
    bus: CommandBusDep,
    current_user: CurrentUser,
    body: ChargePointAction,
) -> ChargePointPublic:
    charge_point = actions.connect(
        session,
        bus,
        current_user,
        body.charge_point_id,
        body.timeout,
        settings.max_user_messages_per_second,
    )
    return ChargePointPublic.model_validate(charge_point)


@router.post(
    "/disconnect-charger",
    responses=ACTION,
    summary="Close the connection; running sessions go on offline and are reported later",
)
def disconnect_charger(
    session: SessionDep, bus: CommandBusDep, current_user: CurrentUser, body: ChargePointAction
) -> ChargePointPublic:
    charge_point = actions.disconnect(
        session, bus, current_user, body.charge_point_id, body.timeout
    )
    return ChargePointPublic.model_validate(charge_point)


@router.post(
    "/start-transaction",
    responses=ACTION,
    summary="Plug the vehicle in, authorise it and start a transaction",
)
def start_transaction(
    session: SessionDep, bus: CommandBusDep, current_user: CurrentUser, body: StartTransaction
) -> TransactionPublic:
    transaction = actions.start_transaction(
        session,
        bus,
        current_user,
        body.connector_id,
        body.vehicle_id,
        body.id_tag,
        body.timeout,
    )
    return TransactionPublic.model_validate(transaction)


@router.post("/stop-transaction", responses=ACTION, summary="Stop a running transaction")
def stop_transaction(
    session: SessionDep, bus: CommandBusDep, current_user: CurrentUser, body: StopTransaction
) -> TransactionPublic:
    transaction = actions.stop_transaction(
        session, bus, current_user, body.transaction_id, body.reason, body.timeout
    )
    return TransactionPublic.model_validate(transaction)


@router.post(
    "/plug-in",
    responses=ACTION,
    summary="Plug a vehicle in without starting (the CSMS may then remote-start)",
)
def plug_in(
    session: SessionDep, bus: CommandBusDep, current_user: CurrentUser, body: PlugIn
) -> ConnectorPublic:
    connector = actions.plug_in(
        session, bus, current_user, body.connector_id, body.vehicle_id, body.timeout
    )
    return ConnectorPublic.model_validate(connector)


@router.post("/unplug", responses=ACTION, summary="Unplug the vehicle (a running transaction ends)")
def unplug(
    session: SessionDep, bus: CommandBusDep, current_user: CurrentUser, body: ConnectorAction
) -> ConnectorPublic:
    connector = actions.connector_command(
        session, bus, current_user, body.connector_id, "unplug", body.timeout
    )
    return ConnectorPublic.model_validate(connector)


@router.post(
    "/data-transfer",
    responses=ACTION,
    summary="Send a DataTransfer to the CSMS and return its answer",
)
def data_transfer(
    session: SessionDep, bus: CommandBusDep, current_user: CurrentUser, body: DataTransfer
) -> DataTransferResult:
    answer = actions.data_transfer(
        session,
        bus,
        current_user,
        body.charge_point_id,
        body.vendor_id,
        body.message_id,
        body.data,
        body.timeout,
    )
    return DataTransferResult.model_validate(answer)


@router.post(
    "/certificate-request",
    responses=ACTION,
    summary="Send a certificate request (SignCertificate, GetCertificateStatus, "
    "Get15118EVCertificate) to the CSMS and return its answer",
)
def certificate_request(
    session: SessionDep, bus: CommandBusDep, current_user: CurrentUser, body: CertificateRequest
) -> CertificateRequestResult:
    arguments = body.model_dump(exclude={"charge_point_id", "timeout"}, exclude_none=True)
    answer = actions.certificate_request(
        session, bus, current_user, body.charge_point_id, arguments, body.timeout
    )
    return CertificateRequestResult.model_validate(answer)


@router.post(
    "/set-firmware-failure",
    responses=ACTION,
    summary="Make the charge point's next firmware updates fail at one step (or succeed)",
    description="To test how a CSMS handles DownloadFailed (after its retries), "
    "InvalidSignature or InstallationFailed. Kept with the twin's state until changed.",
)
def set_firmware_failure(
    session: SessionDep, bus: CommandBusDep, current_user: CurrentUser, body: SetFirmwareFailure
) -> FirmwareFailureResult:
    answer = actions.set_firmware_failure(
        session, bus, current_user, body.charge_point_id, body.firmware_failure, body.timeout
    )
    return FirmwareFailureResult.model_validate(answer)


@router.post("/set-faulted", responses=ACTION, summary="Put a connector in Faulted")
def set_faulted(
    session: SessionDep, bus: CommandBusDep, current_user: CurrentUser, body: SetFaulted
) -> ConnectorPublic:
    connector = actions.connector_command(
        session,
        bus,
        current_user,
        body.connector_id,
        "set_faulted",
        body.timeout,
        error_code=body.error_code,
        info=body.info,
    )
    return ConnectorPublic.model_validate(connector)


@router.post("/clear-fault", responses=ACTION, summary="Clear a connector's fault")
def clear_fault(
    session: SessionDep, bus: CommandBusDep, current_user: CurrentUser, body: ConnectorAction
) -> ConnectorPublic:
    connector = actions.connector_command(
        session, bus, current_user, body.connector_id, "clear_fault", body.timeout
    )
    return ConnectorPublic.model_validate(connector)


@router.post(
    "/connect-charger/bulk",
    responses=BULK_ERRORS,
    summary="Connect many charge points",
    description="Connect and boot each charge point, as `connect-charger` does." + BULK,
)
def connect_chargers(
    session: SessionDep, bus: CommandBusDep, current_user: CurrentUser, body: BulkChargePointAction
) -> BulkActionResult:
    ids = [item.charge_point_id for item in body.items]
    return actions.bulk_charge_point_command(
        session, bus, current_user, ids, "connect", body.rate, body.timeout
    )


@router.post(
    "/disconnect-charger/bulk",
    responses=BULK_ERRORS,
    summary="Disconnect many charge points",
    description="Close each charge point's connection, as `disconnect-charger` does." + BULK,
)
def disconnect_chargers(
    session: SessionDep, bus: CommandBusDep, current_user: CurrentUser, body: BulkChargePointAction
) -> BulkActionResult:
    ids = [item.charge_point_id for item in body.items]
    return actions.bulk_charge_point_command(
        session, bus, current_user, ids, "disconnect", body.rate, body.timeout
    )


@router.post(
    "/start-transaction/bulk",
    responses=BULK_ERRORS,
    summary="Start transactions on many connectors",
    description="Plug each vehicle in at its connector, authorise it and start, as "
    "`start-transaction` does; each outcome has the `transaction_id`." + BULK,
)
def start_transactions(
    session: SessionDep, bus: CommandBusDep, current_user: CurrentUser, body: BulkStartTransaction
) -> BulkActionResult:
    items = [
        actions.StartItem(item.connector_id, item.vehicle_id, item.id_tag) for item in body.items
    ]
    return actions.bulk_start_transactions(
        session, bus, current_user, items, body.rate, body.timeout
    )


@router.post(
    "/stop-transaction/bulk",
    responses=BULK_ERRORS,
    summary="Stop many transactions",
    description="Stop each transaction, as `stop-transaction` does." + BULK,
)
def stop_transactions(
    session: SessionDep, bus: CommandBusDep, current_user: CurrentUser, body: BulkStopTransaction
) -> BulkActionResult:
    items = [(item.transaction_id, item.reason) for item in body.items]
    return actions.bulk_stop_transactions(
        session, bus, current_user, items, body.rate, body.timeout
    )

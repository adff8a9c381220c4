from __future__ import annotations

from fastapi import APIRouter

from public_api.deps import CommandBusDep, CurrentUser, SessionDep
from shared.openapi import ACTION
from shared.schemas.action import (
    ChargePointAction,
    ConnectorAction,
    DataTransfer,
    DataTransferResult,
    PlugIn,
    SetFaulted,
    StartTransaction,
    StopTransaction,
)
from shared.schemas.charge_point import ChargePointPublic, ConnectorPublic
from shared.schemas.transaction import TransactionPublic
from worker import actions

router = APIRouter(prefix="/twin/charge-point/action", tags=["actions"])


@router.post(
    "/connect-charger",
    responses=ACTION,
    summary="Connect to the CSMS and boot; answers once the boot is accepted",
)
def connect_charger(
    session: SessionDep, bus: CommandBusDep, current_user: CurrentUser, body: ChargePointAction
) -> ChargePointPublic:
    charge_point = actions.connect(session, bus, current_user, body.charge_point_id, body.timeout)
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

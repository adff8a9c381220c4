"""The one set of ORM models of ELU Twins. Import models from here."""

from shared.models.base import Base
from shared.models.charge_point import ChargePoint, Connector, Evse, OcppConfiguration
from shared.models.command import Command, TwinHost, TwinState
from shared.models.fleet import Fleet
from shared.models.message_log import MessageLogEntry
from shared.models.transaction import MeterSample, Transaction
from shared.models.user import AppToken, Quota, User
from shared.models.vehicle import Vehicle

__all__ = [
    "AppToken",
    "Base",
    "ChargePoint",
    "Command",
    "Connector",
    "Evse",
    "Fleet",
    "MessageLogEntry",
    "MeterSample",
    "OcppConfiguration",
    "Quota",
    "Transaction",
    "TwinHost",
    "TwinState",
    "User",
    "Vehicle",
]

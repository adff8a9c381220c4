"""Errors a twin raises when a command cannot be carried out.

Each carries a stable ``code`` that the APIs map to an HTTP answer, and a
message written for the person who sent the command.
"""

from __future__ import annotations


class TwinError(Exception):
    """A command could not be carried out; ``code`` says why in one word."""

    code = "twin_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotConnected(TwinError):
    """The twin has no open connection to its CSMS (or has not booted yet)."""

    code = "not_connected"


class CsmsUnreachable(NotConnected):
    """Connecting failed in a way waiting does not cure (refused, unknown host...)."""

    code = "csms_unreachable"


class InvalidState(TwinError):
    """The command does not fit the current state (e.g. start on a faulted connector)."""

    code = "invalid_state"


class Rejected(TwinError):
    """The CSMS answered, but said no (id tag not accepted, boot rejected...)."""

    code = "rejected"


class CommandTimeout(TwinError):
    """The CSMS did not answer in time."""

    code = "timeout"


class UnknownTarget(TwinError):
    """The command names a connector, EVSE or transaction the twin does not have."""

    code = "unknown_target"


class InvalidRequest(TwinError):
    """What the command asks the twin to send would break the OCPP schema; nothing was sent."""

    code = "invalid_request"

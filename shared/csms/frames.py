"""OCPP-J frames in and out of the test CSMSs, paid for once per frame.

The `ocpp` library's own path costs ~0.35-0.8 CPU ms per message (benchmarks/README.md,
"The bundled CSMS"): jsonschema validation (~50 % of it), regex case conversion of every key
both ways (~11 %), `dataclasses.asdict` and the standard `json`. Here the same steps use
validators compiled once per process (jsonschema-rs), case conversions cached per key, one
pass over the answer's dataclass and orjson; what is sent and how bad payloads are answered
stay the library's.
"""

import json
from dataclasses import fields, is_dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import ocpp
import orjson
from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.exceptions import FormatViolationError, PropertyConstraintViolationError, ProtocolError
from ocpp.messages import Call, CallError, CallResult, _validate_payload

Message = Call | CallResult | CallError

_KEY_CACHE = 4_096
"""Distinct keys remembered per direction; OCPP has a few hundred, `customData` may add more."""


def unpack(frame: str) -> Message:
    """The library's `ocpp.messages.unpack`, decoding with orjson (json for what orjson
    refuses, e.g. integers beyond 64 bits); raises the same OCPPErrors."""
    try:
        decoded = orjson.loads(frame)
    except orjson.JSONDecodeError:
        try:
            decoded = json.loads(frame)
        except ValueError:
            raise FormatViolationError(
                details={"cause": "Message is not valid JSON", "ocpp_message": frame}
            ) from None
    if not isinstance(decoded, list):
        raise ProtocolError(
            details={
                "cause": "OCPP message hasn't the correct format. It should be a list, but "
                f"got '{type(decoded)}' instead"
            }
        )
    if not decoded:
        raise ProtocolError(details={"cause": "Message does not contain MessageTypeId"})
    for cls in (Call, CallResult, CallError):
        if decoded[0] == cls.message_type_id:
            try:
                return cls(*decoded[1:])
            except TypeError:
                raise ProtocolError(details={"cause": "Message is missing elements."}) from None
    raise PropertyConstraintViolationError(
        details={"cause": f"MessageTypeId '{decoded[0]}' isn't valid"}
    )


class RequestSchemas:
    """The official request schemas of one OCPP version, each compiled on first use.

    Compiled by jsonschema-rs (the draft each schema names, ``format`` checked): on a
    2.0.1 TransactionEvent with three sampled values it takes ~5 µs, fastjsonschema
    ~70 µs and the library's jsonschema ~400 µs (benchmarks/README.md).
    """

    __slots__ = ("_directory", "_suffix", "_validators")

    def __init__(self, version: str) -> None:
        self._directory = Path(ocpp.__file__).parent / f"v{version.replace('.', '')}" / "schemas"
        self._suffix = "" if version == "1.6" else "Request"
        self._validators: dict[str, Any] = {}

    def validator(self, action: str) -> Any:
        """The compiled schema of `action` (a name the CSMS routes, so a file that exists)."""
        validator = self._validators.get(action)
        if validator is None:
            path = self._directory / f"{action}{self._suffix}.json"
            schema = json.loads(path.read_text(encoding="utf-8-sig"))
            validator = jsonschema_rs.validator_for(schema, validate_formats=True)
            self._validators[action] = validator
        return validator


REQUEST_SCHEMAS = {version: RequestSchemas(version) for version in ("1.6", "2.0.1", "2.1")}


def check_request(call: Call, ocpp_version: str) -> None:
    """Validate a CALL's payload against the official request schema.

    The compiled validator decides; only a payload it refuses goes through the library's
    validator too, so that a bad payload gets the CALLERROR the library gives it
    (TypeConstraintViolation, ProtocolError, ...). What only the compiled validator refuses
    is a ``format`` (``date-time``) that the library does not check: FormatViolation.
    """
    validator = REQUEST_SCHEMAS[ocpp_version].validator(call.action)
    try:
        if validator.is_valid(call.payload):
            return
    except ValueError:  # a value it cannot take in (an integer beyond 64 bits): the library decides
        _validate_payload(call, ocpp_version)
        return
    _validate_payload(call, ocpp_version)
    problem = next(iter(validator.iter_errors(call.payload)), None)
    raise FormatViolationError(
        details={"cause": f"Payload for action '{call.action}' is not valid: {problem}"}
    )


@lru_cache(maxsize=_KEY_CACHE)
def _snake(key: str) -> str:
    return next(iter(camel_to_snake_case({key: None})))


@lru_cache(maxsize=_KEY_CACHE)
def _camel(key: str) -> str:
    return next(iter(snake_to_camel_case({key: None})))


def snake_case_arguments(payload: dict[str, Any]) -> dict[str, Any]:
    """A payload's top-level keys in snake_case, as the handlers' keyword arguments.

    Unlike the library (`ocpp.charge_point.camel_to_snake_case`), nested objects are passed
    as they came: the handlers read anything nested from the wire payload
    (`CsmsSession.payload`), and converting every key of every sampled value cost more than
    a quarter of a 2.0.1 TransactionEvent (py-spy, benchmarks/README.md).
    """
    return {_snake(key): value for key, value in payload.items()}


@lru_cache(maxsize=256)
def _wire_fields(cls: type) -> tuple[tuple[str, str], ...]:
    return tuple((field.name, _camel(field.name)) for field in fields(cls))


def to_wire(value: Any) -> Any:
    """An answer as the library sends it (`serialize_as_dict`, `remove_nones`,
    `snake_to_camel_case`) in one pass: dataclasses and dicts with camelCase keys, Nones left
    out."""
    if is_dataclass(value) and not isinstance(value, type):
        return {
            camel: to_wire(item)
            for name, camel in _wire_fields(type(value))
            if (item := getattr(value, name)) is not None
        }
    if isinstance(value, dict):
        return {_camel(key): to_wire(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [to_wire(item) for item in value if item is not None]
    return value


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def call_result_frame(unique_id: Any, payload: Any) -> str:
    """``[3, unique_id, payload]``, compact as the library writes it."""
    return orjson.dumps([3, unique_id, payload], default=_default).decode()

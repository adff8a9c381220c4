"""Schemathesis hooks for tests/shared/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

Constraints JSON Schema cannot say, which the OpenAPI documents in words: a charging
curve's points are in strictly ascending SoC, ``ocpp_configuration`` takes only the keys
and values of the charge point's protocol, a fleet's rules across fields, a bulk action's
pacing (at most 300 s), a client certificate and its key given together as a matching PEM
pair, the fields a Get15118EVCertificate request needs, and no text (in a body or a
query) holds a NUL or a lone surrogate. Positive
cases that break them are not positive, so they are dropped (a negative case may break
them: it must be refused).
"""

from __future__ import annotations

import itertools
from typing import Any

import schemathesis
from schemathesis import GenerationMode


def _breaks_fleet_rule(body: Any) -> bool:
    """A fleet's rules across fields (a uniform's low not above its high, dwell_time or
    target_soc, a distribution within its range, a mix not all zero): what the model's own
    validators refuse, as opposed to the constraints in its schema."""
    if not isinstance(body, dict) or "charge_points" not in body:
        return False
    from pydantic import ValidationError

    from shared.schemas.fleet import FleetCreate

    try:
        FleetCreate.model_validate(body)
    except ValidationError as error:
        return any(problem["type"] == "value_error" for problem in error.errors())
    return False


def _holds_unstorable_text(value: Any) -> bool:
    """A NUL character or a lone surrogate in any string, at any depth: every body refuses
    them (shared/schemas/common.py check_storable), which no per-field schema says."""
    if isinstance(value, str):
        return "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_holds_unstorable_text(k) or _holds_unstorable_text(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_unstorable_text(item) for item in value)
    return False


def _breaks_bulk_pacing(body: Any) -> bool:
    """A bulk action spreads its items over at most 300 s (len(items) / rate)."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        return False
    rate = body.get("rate")
    if not isinstance(rate, int | float) or isinstance(rate, bool) or rate <= 0:
        return False
    return len(body["items"]) / rate > 300


def _breaks_certificate_rule(item: dict[str, Any]) -> bool:
    """A client certificate and key come together and must be a matching PEM pair (no
    generator makes one; only both ``null``, removing them, can be positive), and a
    Get15118EVCertificate request needs its three EV fields."""
    pair = {"client_certificate", "client_key"} & item.keys()
    if pair and (pair != {"client_certificate", "client_key"} or any(item[k] for k in pair)):
        return True
    if item.get("client_certificate") == "" or item.get("client_key") == "":
        return True
    ev_fields = ("iso15118_schema_version", "action", "exi_request")
    return item.get("request") == "Get15118EVCertificate" and any(
        item.get(name) is None for name in ev_fields
    )


def _breaks_unsayable_constraint(body: Any) -> bool:
    if _breaks_fleet_rule(body) or _holds_unstorable_text(body) or _breaks_bulk_pacing(body):
        return True
    items = body if isinstance(body, list) else [body]
    for item in items:
        if not isinstance(item, dict):
            continue
        if _breaks_certificate_rule(item):
            return True
        if item.get("ocpp_configuration"):
            return True
        for name in ("ac_charging_curve", "dc_charging_curve"):
            curve = item.get(name)
            if isinstance(curve, list) and any(
                isinstance(a, list | tuple)
                and isinstance(b, list | tuple)
                and a
                and b
                and not a[0] < b[0]
                for a, b in itertools.pairwise(curve)
            ):
                return True
    return False


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:
    positive = case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE
    return not (
        positive and (_breaks_unsayable_constraint(case.body) or _holds_unstorable_text(case.query))
    )

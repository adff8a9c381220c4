"""Checks of the OCPP configuration a user stores for a twin, whatever its version."""

from __future__ import annotations

from worker.twin import device_model, ocpp16
from worker.twin.config import ConnectorConfig, EvseConfig, OcppProtocol


def evse_layout(connectors_per_evse: list[list[str]]) -> tuple[EvseConfig, ...]:
    """EVSEs numbered from 1, connectors numbered across the charge point from 1."""
    evses = []
    number = 0
    for evse_id, connector_types in enumerate(connectors_per_evse, start=1):
        connectors = []
        for position, connector_type in enumerate(connector_types, start=1):
            number += 1
            connectors.append(ConnectorConfig(number, position, connector_type))
        evses.append(EvseConfig(evse_id, tuple(connectors)))
    return tuple(evses)


def configuration_problems(
    protocol: OcppProtocol, evses: tuple[EvseConfig, ...], values: dict[str, str]
) -> dict[str, str]:
    """Each key of ``values`` the twin would not take, with the reason."""
    problems = {}
    connector_count = sum(len(evse.connectors) for evse in evses)
    for key, value in values.items():
        if protocol == "ocpp1.6":
            problem = ocpp16.stored_value_problem(key, value, connector_count)
        else:
            problem = device_model.stored_value_problem(evses, key, value)
        if problem is not None:
            problems[key] = problem
    return problems

"""Fixtures every twin test module shares.

``csms`` is a :class:`~tests.twin.scripted_csms.ScriptedCsms` (OCPP 1.6), or the
class a module names in ``CSMS_TYPE`` (``CSMS_TYPE = ScriptedCsms201`` for 2.0.1);
``twin`` is a twin of that CSMS's version, connected to it and booted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.twin import scripted_csms, scripted_csms21, scripted_csms201
from tests.twin.scripted_csms import EventLog, ScriptedCsms
from tests.twin.upload_server import Uploads, upload_server
from worker.twin.charge_point import ChargePointTwin


@pytest.fixture
async def csms(request: pytest.FixtureRequest) -> AsyncIterator[ScriptedCsms]:
    csms_type: type[ScriptedCsms] = getattr(request.module, "CSMS_TYPE", ScriptedCsms)
    server = await csms_type().start()
    yield server
    await server.stop()


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
async def twin(csms: ScriptedCsms, events: EventLog) -> AsyncIterator[ChargePointTwin]:
    if isinstance(csms, scripted_csms21.ScriptedCsms21):
        booted = await scripted_csms21.booted_twin21(csms, events)
    elif isinstance(csms, scripted_csms201.ScriptedCsms201):
        booted = await scripted_csms201.booted_twin(csms, events)
    else:
        booted = await scripted_csms.booted_twin(csms, events)
    yield booted
    await booted.close()


@pytest.fixture
def uploads() -> Iterator[Uploads]:
    """An HTTP server on this machine that takes diagnostics and log uploads."""
    with upload_server() as server:
        yield server

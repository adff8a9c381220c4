"""Fixtures every twin test module shares.

``csms`` is a :class:`~tests.twin.scripted_csms.ScriptedCsms` (OCPP 1.6), or the
class a module names in ``CSMS_TYPE`` (``CSMS_TYPE = ScriptedCsms201`` for 2.0.1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.twin.scripted_csms import EventLog, ScriptedCsms


@pytest.fixture
async def csms(request: pytest.FixtureRequest) -> AsyncIterator[ScriptedCsms]:
    csms_type: type[ScriptedCsms] = getattr(request.module, "CSMS_TYPE", ScriptedCsms)
    server = await csms_type().start()
    yield server
    await server.stop()


@pytest.fixture
def events() -> EventLog:
    return EventLog()

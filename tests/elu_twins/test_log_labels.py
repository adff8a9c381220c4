"""Log lines say which service wrote them, by the context they were logged in or by their
logger (twins run on the host's loop but are started from API requests)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from elu_twins.log_labels import LOG_FORMAT, ServiceLabel, labelled


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(ServiceLabel({"worker": "twin host"}))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_line_carries_the_label_of_its_context_or_of_its_logger(output: io.StringIO) -> None:
    labelled("CSMS 1.6").run(logging.getLogger("uvicorn.access").info, "GET /api/settings")
    # A twin started by a public API request still logs as the twin host.
    labelled("public API").run(logging.getLogger("worker.twin.connection").info, "cp-1: up")
    logging.getLogger("alembic.runtime.migration").info("upgrade")
    lines = output.getvalue().splitlines()
    assert "[CSMS 1.6] uvicorn.access: GET /api/settings" in lines[0]
    assert "[twin host] worker.twin.connection: cp-1: up" in lines[1]
    assert "[elu-twins] alembic.runtime.migration: upgrade" in lines[2]

"""Which server a log line comes from, when several share one process and one terminal.

`elu-twins up` runs the public and private APIs, both CSMSs and a twin host on one asyncio
loop, and uvicorn logs every server under the same logger names. Each server's task runs
in a context that carries its label (:func:`labelled`), so every line it logs, its
requests' included, says ``[public API]``, ``[CSMS 1.6]``... Twins run on the host's loop
but are started by API requests, so their loggers (``worker.*``) are labelled by name.
"""

from __future__ import annotations

import contextvars
import logging

LOG_FORMAT = "%(asctime)s %(levelname)s [%(service)s] %(name)s: %(message)s"

SERVICE: contextvars.ContextVar[str] = contextvars.ContextVar("elu_service", default="elu-twins")

PUBLIC_API = "public API"
PRIVATE_API = "private API"
CSMS_V16 = "CSMS 1.6"
CSMS_V201 = "CSMS 2.0.1"
TWIN_HOST = "twin host"


class ServiceLabel(logging.Filter):
    """Sets ``record.service``: the label of the logger's prefix in ``by_logger``, else that
    of the context the line was logged in."""

    def __init__(self, by_logger: dict[str, str] | None = None) -> None:
        super().__init__()
        self.by_logger = by_logger or {}

    def filter(self, record: logging.LogRecord) -> bool:
        top = record.name.split(".", 1)[0]
        record.service = self.by_logger.get(top) or SERVICE.get()
        return True


def label_handlers(by_logger: dict[str, str] | None = None) -> None:
    """Label the lines of every handler of the root logger (those configure_logging made)."""
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, ServiceLabel)]:
            handler.removeFilter(old)
        handler.addFilter(ServiceLabel(by_logger))


def labelled(label: str) -> contextvars.Context:
    """A context to run a server's task in, so that what it logs carries ``label``."""
    context = contextvars.copy_context()
    context.run(SERVICE.set, label)
    return context

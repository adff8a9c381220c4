"""The open-files limit of a process that holds many websockets.

Every twin holds a socket, and a CSMS one per charge point: with the soft limit many
systems start processes with (1,024 open files), the thousandth twin of a process fails
to connect with "Too many open files". A process may raise its soft limit up to its hard
limit without privileges; the twins' hosts and the bundled CSMSs do so when they start.
"""

from __future__ import annotations

import logging

try:
    import resource
except ImportError:  # Windows: no such limit to raise
    resource = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

#: The soft limit asked for when the hard limit is unlimited (Linux's default ceiling,
#: ``fs.nr_open``).
UNLIMITED_TARGET = 1_048_576


def open_files_limit() -> int | None:
    """The soft limit on open files of this process (None: unlimited or unknown)."""
    if resource is None:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def raise_open_files_limit() -> int | None:
    """Raise the soft limit on open files to the hard limit; answers the limit in force."""
    if resource is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as error:
            logger.warning("could not raise the open files limit from %d: %s", soft, error)
        else:
            logger.info("open files limit raised from %d to %d", soft, wanted)
    return open_files_limit()

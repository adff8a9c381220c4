"""The Celery side of distributed mode: a worker process is one twin host.

Each worker runs a :class:`~worker.host.Host` on an asyncio loop in a thread of
its own, started and stopped by a worker bootstep (:class:`TwinHostStep`), and
hosting as many twins as it is given: Celery places twins and carries commands,
it does not run the twins. The worker consumes its own queue ``host.<name>``
(see :func:`worker.redis_bus.host_queue`), where two tasks arrive:

- ``elu.run_command``: carry out a stored command (:meth:`Host.execute`);
- ``elu.run_commands``: carry out the commands of a bulk action that are for twins
  placed here, each at its delay (:meth:`Host.execute_many`);
- ``elu.host_twin``: run a twin placed here (a twin whose host died or drained).

Its twins' live events go to Redis while someone watches (:mod:`worker.redis_events`).

Both only hand the work to the host's loop and return, so the worker's single
(solo) execution slot never waits on a twin. Flower shows the workers and these
tasks. A warm shutdown (SIGTERM) drains the host: its twins move to the other
workers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from pathlib import Path
from typing import Any

import redis
from celery import Celery, bootsteps

from shared.db import make_engine
from shared.open_files import raise_open_files_limit
from shared.settings import Settings
from worker import gc_tuning
from worker.host import Host
from worker.redis_bus import host_queue, publish_outcome, send_to_host
from worker.redis_events import RedisEventRelay

logger = logging.getLogger(__name__)

#: Seconds a draining worker waits for its host to hand its twins over.
DRAIN_TIMEOUT = 30.0


def create_celery(settings: Settings) -> Celery:
    celery = Celery("elu_twins", broker=settings.redis_url)
    celery.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        worker_send_task_events=True,
        task_send_sent_event=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        elu_settings=settings,
    )
    celery.task(name="elu.run_command", bind=True)(_run_command)
    celery.task(name="elu.run_commands", bind=True)(_run_commands)
    celery.task(name="elu.host_twin", bind=True)(_host_twin)
    celery.steps["worker"].add(TwinHostStep)
    return celery


def _run_command(task: Any, command_id: str) -> None:
    """Carry out a stored command on the twin this worker hosts."""
    _runner(task.app).submit(lambda host: host.execute(uuid.UUID(command_id)))


def _run_commands(task: Any, command_ids: list[str], delays: list[float]) -> None:
    """Carry out the commands of a bulk action whose twins this worker hosts, each begun
    its delay (seconds) after it arrives."""
    ids = [uuid.UUID(command_id) for command_id in command_ids]
    _runner(task.app).submit(lambda host: host.execute_many(ids, delays))


def _host_twin(task: Any, charge_point_id: str) -> None:
    """Run a twin that was placed on this worker."""
    _runner(task.app).submit(lambda host: host.host_twin(uuid.UUID(charge_point_id)))


def _runner(celery: Celery) -> HostRunner:
    runner: HostRunner | None = celery.conf.get("elu_host_runner")
    if runner is None:
        raise RuntimeError("this process hosts no twins (not started by `elu-twins worker`)")
    return runner


class HostRunner:
    """A twin host on its own asyncio loop, in a thread of the worker process."""

    def __init__(self, settings: Settings, name: str, celery: Celery) -> None:
        assert settings.database_url is not None
        self.redis = redis.Redis.from_url(settings.redis_url)
        self.host = Host(
            make_engine(settings.database_url),
            name=name,
            ca_file=Path(settings.csms_ca_file) if settings.csms_ca_file else None,
            message_log_limit=settings.message_log_limit,
            lease_seconds=settings.lease_seconds,
            resume_window=settings.resume_window,
            exclusive=False,
            on_outcome=lambda command_id, outcome: publish_outcome(self.redis, command_id, outcome),
            forward=lambda host, task, arguments: send_to_host(celery, host, task, arguments),
        )
        self.relay = RedisEventRelay(self.host.live, settings.redis_url)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="twin-host", daemon=True)

    def start(self) -> None:
        raise_open_files_limit()  # a socket per twin
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.host.start(), self.loop).result(60)
            asyncio.run_coroutine_threadsafe(self.relay.start(), self.loop).result(10)
        except BaseException:
            self._stop_loop()
            raise
        gc_tuning.tune_gc()
        self.submit(lambda host: host.restore())
        logger.info("twin host %s started", self.host.name)

    def submit(self, work: Any) -> None:
        """Run ``work(host)`` (a coroutine function) on the host's loop, without waiting."""
        future = asyncio.run_coroutine_threadsafe(work(self.host), self.loop)
        future.add_done_callback(_log_failure)

    def drain(self) -> None:
        logger.info("twin host %s hands its %d twins over", self.host.name, len(self.host.twins))
        try:
            asyncio.run_coroutine_threadsafe(self.host.drain(), self.loop).result(DRAIN_TIMEOUT)
        except Exception:
            logger.exception("draining twin host %s failed", self.host.name)
        try:
            asyncio.run_coroutine_threadsafe(self.relay.close(), self.loop).result(5)
        except Exception:
            logger.exception("closing the live event relay of %s failed", self.host.name)
        self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def _log_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("twin host task failed", exc_info=future.exception())


class TwinHostStep(bootsteps.StartStopStep):
    """Starts the worker's twin host with the worker, and drains it on shutdown."""

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.runner: HostRunner | None = None

    def start(self, worker: Any) -> None:
        settings: Settings = worker.app.conf.elu_settings
        name = worker.app.conf.get("elu_host_name")
        if name is None:  # a plain `celery worker`: this process hosts no twins
            return
        self.runner = HostRunner(settings, name, worker.app)
        worker.app.conf.elu_host_runner = self.runner
        self.runner.start()

    def stop(self, worker: Any) -> None:
        if self.runner is not None:
            self.runner.drain()
            self.runner = None


def run_worker(settings: Settings, name: str, loglevel: str = "INFO") -> None:
    """Run a Celery worker that hosts twins as ``name`` (blocks until it stops)."""
    celery = create_celery(settings)
    celery.conf.elu_host_name = name
    celery.worker_main(
        [
            "worker",
            "--pool=solo",
            f"--queues={host_queue(name)}",
            f"--hostname=elu@{name}",
            "--task-events",
            "--without-mingle",
            "--without-gossip",
            f"--loglevel={loglevel}",
        ]
    )

"""Distributed mode for tests: real Celery worker processes over real Postgres and Redis.

A :class:`Cluster` owns a Postgres database of its own (so that the embedded
tests' twins, left on stopped hosts, are never adopted by its workers), the
worker processes (`elu-twins worker`, each logging to a file the failure
message quotes), and the command bus the tests' public API uses.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
from sqlalchemy import Engine, select, update

from elu_twins.distributed import child_environment
from shared.db import make_engine, session_for
from shared.models import ChargePoint, TwinHost
from shared.settings import Settings
from worker.celery_app import create_celery
from worker.commands import run_command
from worker.redis_bus import RedisBus

#: The repository the tests run from: worker processes import this code, not an installed one.
ROOT = Path(__file__).resolve().parents[1]
ELU_TWINS = Path(sys.executable).parent / "elu-twins"


@dataclass
class Worker:
    name: str
    log: Path
    process: subprocess.Popen[bytes]


@dataclass
class Cluster:
    settings: Settings
    engine: Engine
    bus: RedisBus
    folder: Path
    workers: list[Worker] = field(default_factory=list)

    def start_worker(self, name: str | None = None) -> Worker:
        name = name or f"w{len(self.workers) + 1}-{uuid.uuid4().hex[:6]}"
        log = self.folder / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "elu_twins", "worker", "--name", name, "--loglevel", "INFO"],
            env=child_environment(self.settings),
            cwd=ROOT,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        worker = Worker(name, log, process)
        self.workers.append(worker)
        self.wait_alive(worker)
        return worker

    def wait_alive(self, worker: Worker, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if worker.process.poll() is not None:
                raise RuntimeError(f"worker {worker.name} exited:\n{worker.log.read_text()}")
            with session_for(self.engine) as session:
                row = session.get(TwinHost, worker.name)
                if row is not None and row.status == "running":
                    return
            time.sleep(0.2)
        raise TimeoutError(f"worker {worker.name} did not start:\n{worker.log.read_text()}")

    def host_pids(self) -> dict[str, int]:
        return {
            worker.name: worker.process.pid
            for worker in self.workers
            if worker.process.poll() is None
        }

    def stop_worker(self, worker: Worker, sig: int = signal.SIGTERM, timeout: float = 40) -> None:
        if worker.process.poll() is None:
            worker.process.send_signal(sig)
            try:
                worker.process.wait(timeout)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
        if worker in self.workers:
            self.workers.remove(worker)

    def disconnect_all(self) -> None:
        """Disconnect every twin the user left connected (between tests)."""
        with session_for(self.engine) as session:
            connected = list(
                session.execute(
                    select(ChargePoint.id, ChargePoint.user_id).where(
                        ChargePoint.desired_state == "connected"
                    )
                )
            )
            for charge_point_id, user_id in connected:
                try:
                    run_command(
                        session,
                        self.bus,
                        charge_point_id=charge_point_id,
                        user_id=user_id,
                        name="disconnect",
                        arguments={},
                        timeout=10,
                    )
                except Exception:
                    session.rollback()
            session.execute(update(ChargePoint).values(desired_state="disconnected"))
            session.commit()

    def close(self) -> None:
        for worker in list(self.workers):
            self.stop_worker(worker)
        self.engine.dispose()


@contextmanager
def running_cluster(
    database_url: str, redis_url: str, folder: Path, workers: int = 2, **settings: object
) -> Iterator[Cluster]:
    configured = Settings(
        mode="distributed",
        data_dir=folder,
        database_url=database_url,
        redis_url=redis_url,
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
        operator_key="test-operator-key",
        **settings,  # type: ignore[arg-type]
    )
    engine = make_engine(database_url)
    bus = RedisBus(engine, redis.Redis.from_url(redis_url), create_celery(configured))
    cluster = Cluster(configured, engine, bus, folder)
    try:
        for _ in range(workers):
            cluster.start_worker()
        yield cluster
    finally:
        cluster.close()

"""Run `elu-twins up` as a real process on free ports, for tests that use it as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Embedded:
    process: subprocess.Popen[str]
    data_dir: Path
    ports: dict[str, int]

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['PUBLIC_API']}"

    @property
    def private_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['PRIVATE_API']}"

    @property
    def operator_key(self) -> str:
        return (self.data_dir / "operator_key").read_text().strip()

    def env(self) -> dict[str, str]:
        return {f"ELU_{name}_PORT": str(port) for name, port in self.ports.items()} | {
            "ELU_DATA_DIR": str(self.data_dir)
        }


def embedded_env(data_dir: Path, ports: dict[str, int] | None = None) -> dict[str, str]:
    if ports is None:
        ports = {
            name: free_port() for name in ("PUBLIC_API", "PRIVATE_API", "CSMS_V16", "CSMS_V201")
        }
    return {f"ELU_{name}_PORT": str(port) for name, port in ports.items()} | {
        "ELU_DATA_DIR": str(data_dir)
    }


@contextmanager
def run_embedded(
    data_dir: Path, timeout: float = 30.0, ports: dict[str, int] | None = None
) -> Iterator[Embedded]:
    """Start `python -m elu_twins up` and wait until both APIs answer (on ``ports`` if given)."""
    env = embedded_env(data_dir, ports)
    ports = {key[4:-5]: int(value) for key, value in env.items() if key.endswith("_PORT")}
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "up.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "elu_twins", "up"],
        env=os.environ | env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    embedded = Embedded(process, data_dir, ports)
    try:
        _wait_until_up(embedded, timeout)
        yield embedded
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_until_up(embedded: Embedded, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if embedded.process.poll() is not None:
            raise RuntimeError(
                "elu-twins up exited:\n" + (embedded.data_dir / "up.log").read_text()
            )
        try:
            for url in (embedded.public_url, embedded.private_url):
                httpx.get(f"{url}/openapi.json", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(
        "elu-twins up did not answer in time:\n" + (embedded.data_dir / "up.log").read_text()
    )

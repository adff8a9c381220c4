"""A minimal CSMS that counts what the twins send: the other end of benchmarks/fleet.py.

A plain `websockets` server speaking ``ocpp1.6`` and ``ocpp2.0.1``: every CALL gets the
smallest valid CALLRESULT (BootNotification Accepted with ``--heartbeat`` interval,
Authorize Accepted, StartTransaction with a transactionId, ...; an action it does not
know gets a CALLERROR NotImplemented). It counts CALLs per action and keeps histograms
(milliseconds -> count, never lists) of how late periodic messages arrive:

- ``meter_lateness``: arrival time minus the timestamp of the (last) meter value in
  1.6 MeterValues and 2.0.1 TransactionEvent ``Updated`` / MeterValues;
- ``meter_interval_lateness``: arrival minus the previous meter message's arrival from
  the same charge point minus ``--meter-interval``: drift of the twins' timers;
- ``heartbeat_lateness``: arrival minus the previous Heartbeat's arrival from the same
  charge point minus ``--heartbeat``.

``GET /stats`` on the same port answers the counters and histograms as JSON::

    python benchmarks/counting_csms.py --port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

SUBPROTOCOLS = ["ocpp1.6", "ocpp2.0.1"]


#: Lateness (ms) from which a meter value counts in ``late_meter_seconds``.
LATE_MS = 500
#: Garbage collections of the CSMS from which they are listed in ``gc_pauses``.
GC_PAUSE_MS = 20
#: Seconds between checks whether the connections changed (and are frozen again).
FREEZE_EVERY = 5.0


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


class Counting:
    def __init__(self, heartbeat: int, meter_interval: float) -> None:
        self.heartbeat = heartbeat
        self.meter_interval = meter_interval
        self.calls: Counter[str] = Counter()
        self.results = 0
        self.errors = 0
        self.connections = 0
        self.connected = 0
        self.meter_lateness: Counter[int] = Counter()
        self.meter_interval_lateness: Counter[int] = Counter()
        self.heartbeat_lateness: Counter[int] = Counter()
        #: Meter values later than LATE_MS, per second of arrival (unix time): whether
        #: lateness comes in bursts (something holding the twins' loop) or spread out.
        self.late_meter_seconds: Counter[int] = Counter()
        #: Collections of this process that took at least GC_PAUSE_MS, as (unix time, ms):
        #: arrivals are timed here, so a pause of this CSMS makes meter values look late.
        self.gc_pauses: list[tuple[float, float]] = []
        self._gc_started = 0.0
        gc.callbacks.append(self._gc_phase)
        self.last_heartbeat: dict[str, float] = {}
        self.last_meter: dict[str, float] = {}
        self.transaction_ids = 0
        self.started = time.time()

    def _gc_phase(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        took_ms = (time.perf_counter() - self._gc_started) * 1000
        if took_ms >= GC_PAUSE_MS:
            self.gc_pauses.append((time.time(), round(took_ms, 1)))

    def stats(self) -> dict[str, Any]:
        return {
            "at": time.time(),
            "connections": self.connections,
            "connected": self.connected,
            "calls": dict(self.calls),
            "calls_total": sum(self.calls.values()),
            "results_received": self.results,
            "errors_received": self.errors,
            "meter_lateness_ms": dict(self.meter_lateness),
            "meter_interval_lateness_ms": dict(self.meter_interval_lateness),
            "heartbeat_lateness_ms": dict(self.heartbeat_lateness),
            "late_meter_seconds": dict(self.late_meter_seconds),
            "gc_pauses": self.gc_pauses[-1000:],
        }

    def answer(self, cid: str, action: str, payload: dict[str, Any], arrived: float) -> Any:
        """The CALLRESULT payload for one CALL (None: not implemented)."""
        if action == "Heartbeat":
            previous = self.last_heartbeat.get(cid)
            self.last_heartbeat[cid] = arrived
            if previous is not None:
                late = arrived - previous - self.heartbeat
                self.heartbeat_lateness[round(late * 1000)] += 1
            return {"currentTime": now_text()}
        if action == "MeterValues" or (
            action == "TransactionEvent" and payload.get("eventType") == "Updated"
        ):
            self._meter(cid, payload, arrived)
        if action == "BootNotification":
            self.last_heartbeat.pop(cid, None)
            return {"status": "Accepted", "currentTime": now_text(), "interval": self.heartbeat}
        if action == "StatusNotification" or action == "MeterValues":
            return {}
        if action == "Authorize":
            if "idToken" in payload:
                return {"idTokenInfo": {"status": "Accepted"}}
            return {"idTagInfo": {"status": "Accepted"}}
        if action == "StartTransaction":
            self.transaction_ids += 1
            return {"transactionId": self.transaction_ids, "idTagInfo": {"status": "Accepted"}}
        if action == "StopTransaction":
            return {"idTagInfo": {"status": "Accepted"}} if payload.get("idTag") else {}
        if action == "TransactionEvent":
            return {"idTokenInfo": {"status": "Accepted"}} if "idToken" in payload else {}
        if action == "DataTransfer":
            return {"status": "Accepted"}
        if action in (
            "NotifyReport",
            "NotifyEvent",
            "SecurityEventNotification",
            "FirmwareStatusNotification",
            "DiagnosticsStatusNotification",
            "LogStatusNotification",
            "NotifyChargingLimit",
            "ClearedChargingLimit",
            "ReportChargingProfiles",
            "NotifyEVChargingNeeds",
            "NotifyEVChargingSchedule",
            "NotifyMonitoringReport",
            "NotifyCustomerInformation",
            "NotifyDisplayMessages",
            "ReservationStatusUpdate",
            "PublishFirmwareStatusNotification",
        ):
            return {}
        return None

    def _meter(self, cid: str, payload: dict[str, Any], arrived: float) -> None:
        previous = self.last_meter.get(cid)
        self.last_meter[cid] = arrived
        if previous is not None:
            drift = arrived - previous - self.meter_interval
            self.meter_interval_lateness[round(drift * 1000)] += 1
        values = payload.get("meterValue")
        if values:
            try:
                at = parse_time(values[-1]["timestamp"])
            except (KeyError, TypeError, ValueError):
                return
            late_ms = round((arrived - at) * 1000)
            self.meter_lateness[late_ms] += 1
            if late_ms >= LATE_MS:
                self.late_meter_seconds[int(arrived)] += 1

    async def handle(self, connection: ServerConnection) -> None:
        cid = connection.request.path.rstrip("/").rsplit("/", 1)[-1] if connection.request else ""
        self.connections += 1
        self.connected += 1
        try:
            async for frame in connection:
                arrived = time.time()
                try:
                    message = json.loads(frame)
                except ValueError:
                    continue
                kind = message[0]
                if kind == 2:
                    _, unique_id, action, payload = message
                    self.calls[action] += 1
                    result = self.answer(cid, action, payload, arrived)
                    if result is None:
                        reply = [4, unique_id, "NotImplemented", f"{action} not counted", {}]
                    else:
                        reply = [3, unique_id, result]
                    await connection.send(json.dumps(reply, separators=(",", ":")))
                elif kind == 3:
                    self.results += 1
                elif kind == 4:
                    self.errors += 1
        except Exception:  # a dropped connection is counted, not fatal
            pass
        finally:
            self.connected -= 1
            self.last_meter.pop(cid, None)

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?")[0] != "/stats":
            return None
        body = json.dumps(self.stats()).encode()
        headers = Headers(
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return Response(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, body)


async def keep_connections_out_of_gc(counting: Counting) -> None:
    """This CSMS times arrivals, so its own full collections would show as the twins'
    lateness (10,000 connections: one of 450 ms made 144 meter values look 0.5 s late).
    Whatever the connections keep lives as long as they do: once their number changed,
    it is frozen out of the collector's sight (``gc.freeze``), as the twins' host does
    with what it keeps (worker/gc_tuning.py, whose thresholds this uses too)."""
    gc.set_threshold(50_000, 20, 10)
    frozen_at = -1
    while True:
        await asyncio.sleep(FREEZE_EVERY)
        if counting.connections != frozen_at:
            frozen_at = counting.connections
            gc.collect()
            gc.freeze()


async def main(port: int, heartbeat: int, meter_interval: float) -> None:
    counting = Counting(heartbeat, meter_interval)
    freezing = asyncio.create_task(keep_connections_out_of_gc(counting))
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    async with serve(
        counting.handle,
        "127.0.0.1",
        port,
        subprotocols=SUBPROTOCOLS,  # type: ignore[list-item]
        process_request=counting.process_request,
        ping_interval=None,
        max_size=None,
        compression=None,
        backlog=4096,
    ):
        print(f"counting CSMS on ws://127.0.0.1:{port}", flush=True)
        await stop
    freezing.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--heartbeat", type=int, default=60, help="interval in BootNotification")
    parser.add_argument("--meter-interval", type=float, default=10)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.port, arguments.heartbeat, arguments.meter_interval))

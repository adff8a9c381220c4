"""The figures of a running fleet: messages per action and the CSMS's response times.

They are read from the twins' message log (every frame in and out, with its unique id),
so they are the same whichever host runs the twins. A response time is the time between
a CALL a twin sent and the CALLRESULT or CALLERROR it received with the same unique id,
in real milliseconds (the log is in the twin's simulated time, divided by its speed).
"""

from __future__ import annotations

import bisect
import csv
import io
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.schemas.fleet import LatencyPublic, MessageCounts

#: Upper bounds (ms) of the latency histogram buckets; the last bucket is open.
BUCKETS_MS: tuple[float, ...] = (
    1,
    2,
    5,
    10,
    20,
    50,
    100,
    200,
    500,
    1000,
    2000,
    5000,
    10000,
    30000,
)
#: CALLs still unanswered are forgotten beyond this many per fleet (answers never came).
MAX_PENDING = 100_000


@dataclass(slots=True)
class LogRow:
    id: int
    charge_point_id: uuid.UUID
    timestamp: datetime
    direction: str
    message_type: str
    unique_id: str
    action: str | None
    payload: Any


def percentile(ordered: list[float], share: float) -> float | None:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


@dataclass
class MessageStats:
    """Counts frames and matches CALLs with their answers, fed with log rows in id order."""

    speed: dict[uuid.UUID, float]
    last_id: int = 0
    frames: int = 0
    messages: dict[str, MessageCounts] = field(default_factory=dict)
    call_errors: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    #: Per charge point: session ends (StopTransaction, TransactionEvent Ended) the CSMS
    #: has answered.
    ends_answered: Counter[uuid.UUID] = field(default_factory=Counter)
    _pending: dict[tuple[uuid.UUID, str], tuple[datetime, bool]] = field(default_factory=dict)

    def add(self, rows: list[LogRow]) -> None:
        for row in rows:
            self.last_id = max(self.last_id, row.id)
            self.frames += 1
            action = row.action or "?"
            counts = self.messages.setdefault(action, MessageCounts())
            if row.direction == "sent":
                counts.sent += 1
            else:
                counts.received += 1
            if row.message_type == "CALLERROR":
                code = row.payload[0] if isinstance(row.payload, list) and row.payload else "?"
                self.call_errors[f"CALLERROR {code}"] += 1
            key = (row.charge_point_id, row.unique_id)
            if row.message_type == "CALL" and row.direction == "sent":
                if len(self._pending) >= MAX_PENDING:
                    del self._pending[next(iter(self._pending))]
                self._pending[key] = (row.timestamp, _ends_session(row))
            elif row.message_type != "CALL" and row.direction == "received":
                call = self._pending.pop(key, None)
                if call is not None:
                    sent_at, ends = call
                    if ends:
                        self.ends_answered[row.charge_point_id] += 1
                    simulated = (row.timestamp - sent_at).total_seconds()
                    real_ms = simulated / self.speed.get(row.charge_point_id, 1.0) * 1000
                    self.latencies[action].append(max(real_ms, 0.0))

    def latency(self) -> dict[str, LatencyPublic]:
        for values in self.latencies.values():
            values.sort()
        return {
            action: LatencyPublic(
                count=len(values),
                p50_ms=_round(percentile(values, 0.5)),
                p99_ms=_round(percentile(values, 0.99)),
                max_ms=_round(values[-1] if values else None),
            )
            for action, values in sorted(self.latencies.items())
        }

    def histograms(self) -> dict[str, list[int]]:
        """Per action, the count of response times in each bucket of BUCKETS_MS (+ over)."""
        result = {}
        self.latency()
        for action, values in sorted(self.latencies.items()):
            counts = [0] * (len(BUCKETS_MS) + 1)
            for value in values:
                counts[bisect.bisect_left(BUCKETS_MS, value)] += 1
            result[action] = counts
        return result


def _ends_session(row: LogRow) -> bool:
    if row.action == "StopTransaction":
        return True
    return (
        row.action == "TransactionEvent"
        and isinstance(row.payload, dict)
        and row.payload.get("eventType") == "Ended"
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def histogram_csv(histograms: dict[str, list[int]]) -> str:
    """One line per action and bucket: ``action,le_ms,count`` (``le_ms`` empty: above all)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["action", "le_ms", "count"])
    for action, counts in histograms.items():
        for bound, count in zip((*BUCKETS_MS, None), counts, strict=True):
            writer.writerow([action, "" if bound is None else f"{bound:g}", count])
    return out.getvalue()

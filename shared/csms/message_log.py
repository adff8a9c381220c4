"""A bounded log of the OCPP-J frames exchanged with one charge point.

Frames are stored as the raw text with a timestamp and direction and decoded only when someone
reads the log: the hot path (thousands of frames a second) pays for one `deque.append`, and a
raw string is also the most compact form to keep.
"""

import json
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any, Literal

Direction = Literal["sent", "received"]

SENT: Direction = "sent"
RECEIVED: Direction = "received"

MESSAGE_TYPES = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"}

_ACTION_LOOKBACK = 1_000
"""How many frames before a page are searched for the CALL a CALLRESULT/CALLERROR answers."""


@dataclass(slots=True)
class LoggedMessage:
    seq: int
    time: datetime
    direction: Direction
    message_type: str
    unique_id: str | None
    action: str | None
    payload: Any
    error_code: str | None = None
    error_description: str | None = None


class MessageLog:
    __slots__ = ("_frames", "_recorded")

    def __init__(self, maxlen: int) -> None:
        self._frames: deque[tuple[float, Direction, str]] = deque(maxlen=maxlen)
        self._recorded = 0

    def record(self, direction: Direction, frame: str) -> None:
        self._frames.append((time.time(), direction, frame))
        self._recorded += 1

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def dropped(self) -> int:
        """Frames forgotten because the log is full."""
        return self._recorded - len(self._frames)

    @property
    def last_frame_at(self) -> datetime | None:
        return _utc(self._frames[-1][0]) if self._frames else None

    def resize(self, maxlen: int) -> None:
        if maxlen != self._frames.maxlen:
            self._frames = deque(self._frames, maxlen=maxlen)

    def page(self, offset: int, limit: int) -> list[LoggedMessage]:
        """Decode `limit` frames from `offset` (0 = oldest kept), oldest first."""
        start = max(0, offset - _ACTION_LOOKBACK)
        frames = list(islice(self._frames, start, offset + limit))
        call_actions: dict[tuple[Direction, str], str] = {}
        page: list[LoggedMessage] = []
        first_seq = self.dropped + start
        for index, (timestamp, direction, frame) in enumerate(frames):
            before_page = start + index < offset
            if before_page and not frame.lstrip().startswith("[2"):
                continue
            message = _decode(first_seq + index, timestamp, direction, frame)
            if message.message_type == "CALL" and message.unique_id is not None:
                call_actions[(direction, message.unique_id)] = message.action or ""
            elif message.unique_id is not None:
                answered = RECEIVED if direction == SENT else SENT
                message.action = call_actions.get((answered, message.unique_id))
            if not before_page:
                page.append(message)
        return page


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _decode(seq: int, timestamp: float, direction: Direction, frame: str) -> LoggedMessage:
    message = LoggedMessage(seq, _utc(timestamp), direction, "INVALID", None, None, frame)
    try:
        decoded = json.loads(frame)
        message_type = MESSAGE_TYPES[decoded[0]]
        message.unique_id = str(decoded[1])
    except (ValueError, LookupError, TypeError):
        return message
    message.message_type = message_type
    if message_type == "CALL" and len(decoded) >= 4:
        message.action = decoded[2]
        message.payload = decoded[3]
    elif message_type == "CALLRESULT" and len(decoded) >= 3:
        message.payload = decoded[2]
    elif message_type == "CALLERROR" and len(decoded) >= 4:
        message.error_code = decoded[2]
        message.error_description = decoded[3]
        message.payload = decoded[4] if len(decoded) > 4 else {}
    else:
        message.message_type = "INVALID"
        message.payload = frame
    return message

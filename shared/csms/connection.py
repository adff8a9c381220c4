"""The adapter between a Starlette websocket and the `ocpp` library, and where frames are logged."""

from starlette.websockets import WebSocket, WebSocketDisconnect

from shared.csms.events import CsmsEvents
from shared.csms.message_log import RECEIVED, SENT, MessageLog


class LoggingConnection:
    """Gives a Starlette `WebSocket` the `send(str)` / `recv() -> str` interface of `ocpp`,
    and logs and streams (to live viewers, if any) every frame."""

    __slots__ = ("_charge_point_id", "_events", "_log", "_websocket")

    def __init__(
        self,
        websocket: WebSocket,
        log: MessageLog,
        events: CsmsEvents | None = None,
        charge_point_id: str = "",
    ) -> None:
        self._websocket = websocket
        self._log = log
        self._events = events
        self._charge_point_id = charge_point_id

    async def recv(self) -> str:
        message = await self._websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        frame = message.get("text")
        if frame is None:
            frame = (message.get("bytes") or b"").decode("utf-8", "replace")
        self._log.record(RECEIVED, frame)
        if self._events is not None and self._events.watched:
            self._events.frame(self._charge_point_id, RECEIVED, frame)
        return frame

    async def send(self, frame: str) -> None:
        self._log.record(SENT, frame)
        if self._events is not None and self._events.watched:
            self._events.frame(self._charge_point_id, SENT, frame)
        await self._websocket.send_text(frame)

    async def close(self, code: int, reason: str) -> None:
        await self._websocket.close(code, reason)

"""The adapter between a Starlette websocket and the `ocpp` library, and where frames are logged."""

from starlette.websockets import WebSocket, WebSocketDisconnect

from shared.csms.message_log import RECEIVED, SENT, MessageLog


class LoggingConnection:
    """Gives a Starlette `WebSocket` the `send(str)` / `recv() -> str` interface of `ocpp`."""

    __slots__ = ("_log", "_websocket")

    def __init__(self, websocket: WebSocket, log: MessageLog) -> None:
        self._websocket = websocket
        self._log = log

    async def recv(self) -> str:
        message = await self._websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        frame = message.get("text")
        if frame is None:
            frame = (message.get("bytes") or b"").decode("utf-8", "replace")
        self._log.record(RECEIVED, frame)
        return frame

    async def send(self, frame: str) -> None:
        self._log.record(SENT, frame)
        await self._websocket.send_text(frame)

    async def close(self, code: int, reason: str) -> None:
        await self._websocket.close(code, reason)

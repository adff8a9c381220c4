"""Live events in distributed mode: workers publish, the API subscribes, through Redis.

Each user's events go to the pub/sub channel ``elu:events:user:<id>``, whichever
worker hosts the twin (also after it moved). A worker publishes only the events of
users somebody listens to: its :class:`RedisEventRelay` asks Redis which user
channels have subscribers (``PUBSUB CHANNELS``) every second, and hears at once of a
new viewer through a notice on ``elu:events-watch`` that the API sends when it
subscribes. Nobody listening costs a worker nothing per event.

The API's :class:`RedisEventSource` subscribes one connection per viewer, only for
as long as the viewer is connected, and filters by charge point and kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared.errors import ServiceUnavailable
from shared.models.base import utcnow
from shared.schemas.event import DroppedEvent, TwinEventPublic, twin_event_adapter
from worker.live import LiveEvents, Subscription

logger = logging.getLogger(__name__)

USER_CHANNEL_PREFIX = "elu:events:user:"
WATCH_CHANNEL = "elu:events-watch"
#: Seconds between a worker's looks at which users have viewers.
REFRESH_INTERVAL = 1.0
#: Seconds a viewer's notice counts even before PUBSUB CHANNELS shows its channel.
NOTICE_GRACE = 5.0
#: Seconds the API waits for Redis to confirm a viewer's subscription.
SUBSCRIBE_TIMEOUT = 5.0
#: Events a worker holds for Redis before it drops the newest (Redis is slow or away).
RELAY_CAPACITY = 10_000


def user_channel(user_id: uuid.UUID) -> str:
    return f"{USER_CHANNEL_PREFIX}{user_id}"


class _UserTap:
    """A worker's watcher of one user's twins on behalf of the viewers elsewhere."""

    charge_point_id: str | None = None

    def __init__(self, user_id: uuid.UUID, relay: RedisEventRelay) -> None:
        self.user_id = user_id
        self.relay = relay

    def wants(self, kind: str) -> bool:
        return True

    def put(self, event: TwinEventPublic) -> None:
        self.relay.enqueue(self.user_id, event)


class RedisEventRelay:
    """Publishes the events of a worker's twins to Redis while their users have viewers.

    Runs on the host's loop; events are queued (bounded) and published in batches by a
    task of its own, so a slow Redis never slows the twins.
    """

    def __init__(self, live: LiveEvents, redis_url: str) -> None:
        self.live = live
        self.redis_url = redis_url
        self._taps: dict[uuid.UUID, _UserTap] = {}
        self._noticed: dict[uuid.UUID, float] = {}
        self._queue: deque[tuple[uuid.UUID, TwinEventPublic]] = deque()
        self._dropped: dict[uuid.UUID, int] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._client: aioredis.Redis | None = None

    async def start(self) -> None:
        self._client = aioredis.Redis.from_url(self.redis_url)
        self._tasks = [
            asyncio.create_task(self._follow_viewers()),
            asyncio.create_task(self._publish()),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for tap in list(self._taps.values()):
            self.live.unwatch(tap)
        self._taps.clear()
        if self._client is not None:
            with contextlib.suppress(RedisError):  # the last events of a draining host
                await self._publish_queued()
            await self._client.aclose()

    @property
    def watched_users(self) -> set[uuid.UUID]:
        return set(self._taps)

    def enqueue(self, user_id: uuid.UUID, event: TwinEventPublic) -> None:
        if len(self._queue) >= RELAY_CAPACITY:
            self._dropped[user_id] = self._dropped.get(user_id, 0) + 1
            return
        self._queue.append((user_id, event))
        self._wake.set()

    async def _publish(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._publish_queued()
            except RedisError as error:
                logger.warning("could not publish live events: %s", error)
                await asyncio.sleep(REFRESH_INTERVAL)

    async def _publish_queued(self) -> None:
        """Publish what is queued in one round trip (events lost if Redis fails)."""
        assert self._client is not None
        batch, self._queue = self._queue, deque()
        dropped, self._dropped = self._dropped, {}
        if not batch and not dropped:
            return
        pipeline = self._client.pipeline(transaction=False)
        for user_id, count in dropped.items():
            marker = DroppedEvent(at=utcnow(), count=count)
            pipeline.publish(user_channel(user_id), marker.model_dump_json())
        for user_id, event in batch:
            pipeline.publish(user_channel(user_id), event.model_dump_json())
        await pipeline.execute()

    async def _follow_viewers(self) -> None:
        """Keep one tap per user with a viewer: refreshed every second, and at once when
        the API announces a new viewer."""
        assert self._client is not None
        loop = asyncio.get_running_loop()
        while True:
            notices = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await notices.subscribe(WATCH_CHANNEL)
                next_refresh = 0.0
                while True:
                    if loop.time() >= next_refresh:
                        channels = await self._client.pubsub_channels(f"{USER_CHANNEL_PREFIX}*")
                        self._refresh({_user_of(channel) for channel in channels}, loop.time())
                        next_refresh = loop.time() + REFRESH_INTERVAL
                    notice = await notices.get_message(
                        timeout=max(next_refresh - loop.time(), 0.01)
                    )
                    if notice is not None:
                        user_id = _user_of(notice["data"], prefix="")
                        if user_id is not None:
                            self._noticed[user_id] = loop.time()
                            self._tap(user_id)
            except RedisError as error:
                logger.warning("live events: Redis is not reachable (%s); retrying", error)
                await asyncio.sleep(REFRESH_INTERVAL)
            finally:
                with contextlib.suppress(Exception):
                    await notices.aclose()

    def _refresh(self, listened: set[uuid.UUID | None], now: float) -> None:
        self._noticed = {user: at for user, at in self._noticed.items() if now - at < NOTICE_GRACE}
        wanted = {user for user in listened if user is not None} | set(self._noticed)
        for user_id in set(self._taps) - wanted:
            self.live.unwatch(self._taps.pop(user_id))
        for user_id in wanted:
            self._tap(user_id)

    def _tap(self, user_id: uuid.UUID) -> None:
        if user_id not in self._taps:
            tap = self._taps[user_id] = _UserTap(user_id, self)
            self.live.watch(tap)


def _user_of(value: Any, prefix: str = USER_CHANNEL_PREFIX) -> uuid.UUID | None:
    text = value.decode() if isinstance(value, bytes) else str(value)
    try:
        return uuid.UUID(text.removeprefix(prefix))
    except ValueError:
        return None


class RedisEventSource:
    """The API side: a viewer's subscription fed from its user's channel."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._readers: dict[int, tuple[aioredis.Redis, Any, asyncio.Task[None]]] = {}

    async def subscribe(
        self,
        user_id: uuid.UUID,
        charge_point_id: str | None = None,
        kinds: frozenset[str] | None = None,
    ) -> Subscription:
        subscription = Subscription(user_id, charge_point_id, kinds)
        client = aioredis.Redis.from_url(self.redis_url)
        channel = client.pubsub()
        try:
            await channel.subscribe(user_channel(user_id))
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):  # until Redis confirms
                while (await channel.get_message(timeout=SUBSCRIBE_TIMEOUT)) is None:
                    pass
            await client.publish(WATCH_CHANNEL, str(user_id))
        except (RedisError, TimeoutError) as error:
            await channel.aclose()
            await client.aclose()
            raise ServiceUnavailable(
                f"Redis is not reachable ({error}): live events need it in distributed mode",
                code="no_redis",
            ) from error
        reader = asyncio.create_task(self._read(channel, subscription))
        self._readers[id(subscription)] = (client, channel, reader)
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        subscription.close()
        found = self._readers.pop(id(subscription), None)
        if found is None:
            return
        client, channel, reader = found
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        with contextlib.suppress(Exception):
            await channel.aclose()
            await client.aclose()

    @staticmethod
    async def _read(channel: Any, subscription: Subscription) -> None:
        charge_point_id = subscription.charge_point_id
        try:
            while True:
                message = await channel.get_message(timeout=None)
                if message is None or message["type"] != "message":
                    continue
                event = twin_event_adapter.validate_json(message["data"])
                if isinstance(event, DroppedEvent) or (
                    (charge_point_id is None or str(event.charge_point_id) == charge_point_id)
                    and subscription.wants(event.kind)
                ):
                    subscription.put(event)
        except RedisError as error:
            logger.warning("live events: lost Redis (%s); ending the stream", error)
            subscription.close()

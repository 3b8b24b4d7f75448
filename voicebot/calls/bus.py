"""Event bus: one live stream of CallEvents per call, in-process or across workers through Redis.

Publishing never waits on a slow reader: each subscriber has a bounded queue and loses its oldest
events when it falls behind (the store and the monitor reload what they miss from the database).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from voicebot.events import CallEvent

log = logging.getLogger(__name__)


class Subscription:
    """An async iterator of events; use `async with bus.subscribe(...) as sub` to be sure it is live."""

    def __init__(self, call_id: str | None, maxsize: int, on_close) -> None:
        self.call_id = call_id
        self.queue: asyncio.Queue[CallEvent | None] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0
        self._on_close = on_close
        self._closed = False
        self.ready = asyncio.Event()

    def matches(self, event: CallEvent) -> bool:
        return self.call_id is None or event.call_id == self.call_id

    def offer(self, event: CallEvent | None) -> None:
        """Queue an event without waiting; drop the oldest when full."""
        if self._closed:
            return
        while True:
            try:
                self.queue.put_nowait(event)
                return
            except asyncio.QueueFull:
                try:
                    self.queue.get_nowait()
                    self.dropped += 1
                except asyncio.QueueEmpty:  # pragma: no cover - raced with a reader
                    pass

    async def wait_ready(self) -> "Subscription":
        await self.ready.wait()
        return self

    def __aiter__(self) -> AsyncIterator[CallEvent]:
        return self

    async def __anext__(self) -> CallEvent:
        if self._closed and self.queue.empty():
            raise StopAsyncIteration
        event = await self.queue.get()
        if event is None:
            self._closed = True
            raise StopAsyncIteration
        return event

    async def get(self, timeout: float | None = None) -> CallEvent:
        """Next event, or TimeoutError after timeout seconds."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._on_close(self)
            try:
                self.queue.put_nowait(None)
            except asyncio.QueueFull:
                pass

    async def __aenter__(self) -> "Subscription":
        return await self.wait_ready()

    async def __aexit__(self, *exc) -> None:
        await self.close()


@runtime_checkable
class EventBus(Protocol):
    """Where the pipeline's observers publish and the store/monitor listen."""

    async def publish(self, event: CallEvent) -> None: ...

    def subscribe(self, call_id: str | None = None) -> Subscription:
        """Events of one call, or of every call (None), from now on."""
        ...

    async def close(self) -> None: ...


class MemoryEventBus:
    """In-process bus (one worker): publish hands each event to matching subscribers' queues."""

    def __init__(self, subscriber_queue: int = 1000) -> None:
        self._subs: set[Subscription] = set()
        self._maxsize = subscriber_queue

    async def publish(self, event: CallEvent) -> None:
        for sub in list(self._subs):
            if sub.matches(event):
                sub.offer(event)

    def subscribe(self, call_id: str | None = None) -> Subscription:
        sub = Subscription(call_id, self._maxsize, self._remove)
        self._subs.add(sub)
        sub.ready.set()
        return sub

    async def _remove(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    async def close(self) -> None:
        for sub in list(self._subs):
            await sub.close()


class RedisEventBus:
    """Bus shared by several workers through Redis pub/sub: one channel per call.

    One Redis connection per process listens on the pattern `<prefix>:call:*` and fans events out to
    local subscribers, so fifty monitor pages cost one Redis subscription, not fifty.
    """

    def __init__(self, url: str, prefix: str = "voicebot", subscriber_queue: int = 1000) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(url)
        self._prefix = prefix
        self._maxsize = subscriber_queue
        self._subs: set[Subscription] = set()
        self._reader: asyncio.Task | None = None
        self._listening = asyncio.Event()
        self._lock = asyncio.Lock()

    def channel(self, call_id: str) -> str:
        return f"{self._prefix}:call:{call_id}"

    async def publish(self, event: CallEvent) -> None:
        await self._redis.publish(self.channel(event.call_id), json.dumps(event.to_dict()))

    def subscribe(self, call_id: str | None = None) -> Subscription:
        sub = Subscription(call_id, self._maxsize, self._remove)
        self._subs.add(sub)
        asyncio.get_running_loop().create_task(self._arm(sub))
        return sub

    async def _arm(self, sub: Subscription) -> None:
        async with self._lock:
            if self._reader is None or self._reader.done():
                self._listening.clear()
                self._reader = asyncio.create_task(self._read(), name="redis-bus-reader")
        await self._listening.wait()
        sub.ready.set()

    async def _read(self) -> None:
        pattern = f"{self._prefix}:call:*"
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(pattern)
                self._listening.set()
                async for msg in pubsub.listen():
                    if msg.get("type") != "pmessage":
                        continue
                    try:
                        event = CallEvent.from_dict(json.loads(msg["data"]))
                    except (ValueError, KeyError, TypeError) as exc:
                        log.warning("bus_bad_message", extra={"error": str(exc)})
                        continue
                    for sub in list(self._subs):
                        if sub.matches(event):
                            sub.offer(event)
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except Exception as exc:  # connection lost: retry, subscribers keep waiting
                log.warning("bus_redis_error", extra={"error": str(exc)})
                await asyncio.sleep(0.5)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:
                    pass

    async def _remove(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    async def close(self) -> None:
        for sub in list(self._subs):
            await sub.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
        await self._redis.aclose()


def make_bus(settings) -> EventBus:
    """Build the bus named by CallsSettings.bus."""
    if settings.bus == "redis":
        return RedisEventBus(settings.redis_url, settings.redis_prefix, settings.subscriber_queue)
    return MemoryEventBus(settings.subscriber_queue)

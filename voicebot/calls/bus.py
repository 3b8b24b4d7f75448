"""Event bus: one live stream of CallEvents per call, in-process or across workers through Redis.

Publishing never waits on a slow reader: each subscriber has a bounded queue; when it falls behind it
loses the oldest droppable events of the busiest call, never the events a call's record is made of
(see ``Subscription``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from voicebot.events import CallEvent

log = logging.getLogger(__name__)


# Events that make a call's record: never dropped for a slow reader (a flood of another kind from one
# call must not erase another call's start, turns or end). Their number is bounded by calls and turns.
PROTECTED_TYPES = frozenset({"call_started", "call_ended", "call_lost", "turn", "transcript_final", "transfer",
                             "handoff", "control", "alert", "error"})


class Subscription:
    """An async iterator of events; use `async with bus.subscribe(...) as sub` to be sure it is live.

    Bounded and fair: when the queue is full, the oldest droppable event of the call holding the most
    droppable events goes (a flooding call loses its own events), and protected events are always kept.
    """

    def __init__(self, call_id: str | None, maxsize: int, on_close) -> None:
        self.call_id = call_id
        self.maxsize = max(1, maxsize)
        self._items: deque[CallEvent | None] = deque()
        self._droppable: dict[str, int] = {}  # call id -> droppable events queued
        self._wakeup = asyncio.Event()
        self.dropped = 0
        self._on_close = on_close
        self._closed = False
        self.ready = asyncio.Event()

    def matches(self, event: CallEvent) -> bool:
        return self.call_id is None or event.call_id == self.call_id

    def qsize(self) -> int:
        return len(self._items)

    def offer(self, event: CallEvent | None) -> None:
        """Queue an event without waiting; when full, make room fairly (see the class docstring)."""
        if self._closed:
            return
        if event is not None and len(self._items) >= self.maxsize:
            if not self._evict_one(event):
                return  # the newcomer itself was the one to drop
        self._items.append(event)
        if event is not None and event.type not in PROTECTED_TYPES:
            self._droppable[event.call_id] = self._droppable.get(event.call_id, 0) + 1
        self._wakeup.set()

    def _evict_one(self, incoming: CallEvent) -> bool:
        """Drop one droppable event; False when the incoming one should be dropped instead."""
        counts = dict(self._droppable)
        if incoming.type not in PROTECTED_TYPES:
            counts[incoming.call_id] = counts.get(incoming.call_id, 0) + 1
        if not counts:
            return True  # only protected events queued and coming: keep them all
        victim = max(counts, key=counts.__getitem__)
        if victim == incoming.call_id and self._droppable.get(victim, 0) == 0:
            self.dropped += 1
            return False
        for i, queued in enumerate(self._items):
            if queued is not None and queued.call_id == victim and queued.type not in PROTECTED_TYPES:
                del self._items[i]
                self._forget(queued)
                self.dropped += 1
                return True
        return True

    def _forget(self, event: CallEvent) -> None:
        n = self._droppable.get(event.call_id, 0) - 1
        if n > 0:
            self._droppable[event.call_id] = n
        else:
            self._droppable.pop(event.call_id, None)

    async def wait_ready(self) -> "Subscription":
        await self.ready.wait()
        return self

    def __aiter__(self) -> AsyncIterator[CallEvent]:
        return self

    async def __anext__(self) -> CallEvent:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        event = self._items.popleft()
        if event is None:
            self._closed = True
            raise StopAsyncIteration
        if event.type not in PROTECTED_TYPES:
            self._forget(event)
        return event

    async def get(self, timeout: float | None = None) -> CallEvent:
        """Next event, or TimeoutError after timeout seconds."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._on_close(self)
            self._items.append(None)
            self._wakeup.set()

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

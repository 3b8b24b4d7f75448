"""Listen-in across workers: a supervisor logged in on worker A hears a call carried by worker B.

Audio never goes on Redis unless someone listens. A's listener publishes a ``control`` event
``{"action": "listen"}`` for the call on the bus (again every ``REFRESH_S`` while it listens, and
``"unlisten"`` when it stops); the worker holding the call (B) then publishes that call's 16-bit PCM
chunks on the Redis channel ``<prefix>:audio:<call_id>`` until the last remote listener stops or
stops refreshing (``EXPIRY_S``). A subscribes to that channel and feeds its local AudioListener, so
the monitor's listen WebSocket works the same for local and remote calls.

Wire format of one message: 4 bytes big-endian sample rate, then the PCM (already redaction-free:
it is the call's audio, which only supervisors may hear, exactly as for a local listen).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from typing import TYPE_CHECKING

from voicebot.calls.bus import EventBus
from voicebot.events import CallEvent

if TYPE_CHECKING:  # pragma: no cover
    from voicebot.calls.control import AudioListener

log = logging.getLogger(__name__)
REFRESH_S = 10.0
EXPIRY_S = 30.0
MAX_CHUNK_BYTES = 64_000  # a relayed message larger than this is dropped, never played


class RedisAudioRelay:
    """Both sides of the relay for one worker process."""

    def __init__(self, url: str, prefix: str, bus: EventBus) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(url)
        self._prefix = prefix
        self._bus = bus
        self._wanted: dict[str, dict[str, float]] = {}  # call id -> {listener id: expiry}
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=500)
        self._sender: asyncio.Task | None = None

    def channel(self, call_id: str) -> str:
        return f"{self._prefix}:audio:{call_id}"

    # -- the worker that holds the call -------------------------------------------------------
    def on_control(self, call_id: str, data: dict) -> None:
        """A ``listen``/``unlisten`` request from another worker for a call held here."""
        who = str(data.get("listener", ""))[:64]
        if data.get("action") == "listen" and who:
            self._wanted.setdefault(call_id, {})[who] = time.monotonic() + EXPIRY_S
        elif data.get("action") == "unlisten":
            group = self._wanted.get(call_id, {})
            group.pop(who, None)
            if not group:
                self._wanted.pop(call_id, None)

    def wanted(self, call_id: str) -> bool:
        group = self._wanted.get(call_id)
        if not group:
            return False
        now = time.monotonic()
        for who in [w for w, expiry in group.items() if expiry < now]:
            del group[who]
        if not group:
            del self._wanted[call_id]
        return bool(group)

    def publish(self, call_id: str, pcm16: bytes, rate: int) -> None:
        """Hand a chunk to remote listeners, if any (never blocks; drops when Redis lags)."""
        if not self.wanted(call_id):
            return
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send(), name="audio-relay-send")
        with contextlib.suppress(asyncio.QueueFull):
            self._outbox.put_nowait((call_id, struct.pack(">I", rate) + pcm16))

    def forget(self, call_id: str) -> None:
        self._wanted.pop(call_id, None)

    async def _send(self) -> None:
        while True:
            call_id, payload = await self._outbox.get()
            try:
                await self._redis.publish(self.channel(call_id), payload)
            except Exception as exc:  # Redis away: listen-in pauses, the call goes on
                log.warning("audio relay publish failed: %s", exc, extra={"call_id": call_id})
                await asyncio.sleep(0.5)

    # -- the worker where the supervisor listens ----------------------------------------------
    async def pump(self, listener: "AudioListener", listener_id: str) -> None:
        """Feed ``listener`` from the call's audio channel until cancelled."""
        pubsub = self._redis.pubsub()
        refresher = None
        try:
            await pubsub.subscribe(self.channel(listener.call_id))
            refresher = asyncio.create_task(self._refresh(listener.call_id, listener_id))
            async for msg in pubsub.listen():
                if msg.get("type") != "message":
                    continue
                data = msg.get("data")
                if not isinstance(data, bytes) or not 4 < len(data) <= MAX_CHUNK_BYTES + 4:
                    continue
                rate = struct.unpack(">I", data[:4])[0]
                if rate not in (8000, 16000, 24000, 48000):
                    continue
                listener.offer((data[4:], rate))
        finally:
            if refresher is not None:
                refresher.cancel()
            with contextlib.suppress(Exception):
                await self._bus.publish(CallEvent(listener.call_id, "control",
                                                  {"action": "unlisten", "listener": listener_id}))
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _refresh(self, call_id: str, listener_id: str) -> None:
        while True:
            await self._bus.publish(CallEvent(call_id, "control", {"action": "listen", "listener": listener_id}))
            await asyncio.sleep(REFRESH_S)

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sender
        with contextlib.suppress(Exception):
            await self._redis.aclose()

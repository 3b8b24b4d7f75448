"""CallControlRegistry: how the monitor's actions reach live calls, and how listen-in audio leaves them.

The app registers each live call's CallControl here. "Transférer"/"Raccrocher" call the session
directly when the call lives in this worker; otherwise they are published as `control` events on the
bus and the worker holding the call executes them. Listen-in: the pipeline (or the transport) calls
`publish_audio(call_id, pcm16, rate)` with caller+bot audio; each listening browser gets its own
bounded queue (oldest chunks dropped: live audio must not lag), streamed over a WebSocket as binary
16-bit little-endian PCM and played with WebAudio. Publishing costs nothing when nobody listens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from voicebot.calls.bus import EventBus
from voicebot.events import CallEvent
from voicebot.call import CallControl

log = logging.getLogger(__name__)


@dataclass(eq=False)
class AudioListener:
    """One listen-in socket of a supervisor: a bounded queue of the call's audio (old chunks dropped)."""

    call_id: str
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=50))
    dropped: int = 0

    def offer(self, chunk: tuple[bytes, int] | None) -> None:
        while True:
            try:
                self.queue.put_nowait(chunk)
                return
            except asyncio.QueueFull:
                try:
                    self.queue.get_nowait()
                    self.dropped += 1
                except asyncio.QueueEmpty:  # pragma: no cover
                    pass

    def __aiter__(self) -> AsyncIterator[tuple[bytes, int]]:
        return self

    async def __anext__(self) -> tuple[bytes, int]:
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        return item


class CallControlRegistry:
    """Live calls of this worker, by call id."""

    def __init__(self, bus: EventBus | None = None, worker_id: str = "") -> None:
        self._sessions: dict[str, CallControl] = {}
        self._listeners: dict[str, set[AudioListener]] = {}
        self.bus = bus
        self.worker_id = worker_id
        self._task: asyncio.Task | None = None
        self.relay: Any = None  # RedisAudioRelay (voicebot.calls.relay) when several workers share Redis
        self._pumps: dict[AudioListener, asyncio.Task] = {}

    # -- sessions ---------------------------------------------------------------------------
    def register(self, session: CallControl) -> None:
        self._sessions[session.info.call_id] = session

    def unregister(self, call_id: str) -> None:
        self._sessions.pop(call_id, None)
        if self.relay is not None:
            self.relay.forget(call_id)
        for listener in self._listeners.pop(call_id, set()):
            listener.offer(None)

    def get(self, call_id: str) -> CallControl | None:
        return self._sessions.get(call_id)

    def call_ids(self) -> list[str]:
        return list(self._sessions)

    # -- actions ----------------------------------------------------------------------------
    async def transfer(self, call_id: str, queue: str, by: str = "", target: str = "") -> str:
        """Transfer to an agent queue. Returns "accepted", "refused" or "forwarded" (other worker)."""
        session = self._sessions.get(call_id)
        if session is None:
            await self._forward(call_id, {"action": "transfer", "queue": queue, "by": by, "target": target})
            return "forwarded"
        ok = False
        try:
            ok = await session.transfer(queue, target or queue)
        except Exception as exc:
            log.error("transfer_failed", extra={"call_id": call_id, "error": str(exc)})
        status = "accepted" if ok else "refused"
        if self.bus is not None:
            await self.bus.publish(CallEvent(call_id, "transfer", {
                "queue": queue, "target": target or queue, "reason": "supervisor", "status": status, "by": by}))
        return status

    async def hangup(self, call_id: str, by: str = "") -> str:
        session = self._sessions.get(call_id)
        if session is None:
            await self._forward(call_id, {"action": "hangup", "by": by})
            return "forwarded"
        await session.hangup("supervisor")
        return "done"

    async def _forward(self, call_id: str, data: dict) -> None:
        if self.bus is None:
            raise KeyError(call_id)
        await self.bus.publish(CallEvent(call_id, "control", data))

    async def run(self) -> None:
        """Execute `control` events published by other workers for calls held here."""
        if self.bus is None:
            return
        async with self.bus.subscribe(None) as sub:
            async for event in sub:
                if event.type != "control" or event.call_id not in self._sessions:
                    continue
                d = event.data
                try:
                    if d.get("action") == "transfer":
                        await self.transfer(event.call_id, str(d.get("queue", "")), str(d.get("by", "")),
                                            str(d.get("target", "")))
                    elif d.get("action") == "hangup":
                        await self.hangup(event.call_id, str(d.get("by", "")))
                    elif d.get("action") in ("listen", "unlisten") and self.relay is not None:
                        self.relay.on_control(event.call_id, d)
                except Exception as exc:
                    log.error("control_failed", extra={"call_id": event.call_id, "error": str(exc)})

    def start(self) -> None:
        if self.bus is not None and self._task is None:
            self._task = asyncio.create_task(self.run(), name="call-control")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    # -- listen-in --------------------------------------------------------------------------
    def publish_audio(self, call_id: str, pcm16: bytes, rate: int) -> None:
        """Hand a chunk of 16-bit mono PCM to whoever listens to this call (no-op otherwise)."""
        listeners = self._listeners.get(call_id)
        if listeners:
            for listener in listeners:
                listener.offer((pcm16, rate))
        if self.relay is not None:
            self.relay.publish(call_id, pcm16, rate)

    def can_listen(self, call_id: str) -> bool:
        """A call held here, or (with the Redis relay) a call that another worker may hold."""
        return call_id in self._sessions or self.relay is not None

    def listen(self, call_id: str) -> AudioListener:
        listener = AudioListener(call_id)
        if call_id not in self._sessions and self.relay is not None:  # held by another worker
            import secrets

            self._pumps[listener] = asyncio.create_task(
                self.relay.pump(listener, f"{self.worker_id}/{secrets.token_hex(6)}"), name="listen-relay")
            return listener
        self._listeners.setdefault(call_id, set()).add(listener)
        return listener

    def stop_listening(self, listener: AudioListener) -> None:
        pump = self._pumps.pop(listener, None)
        if pump is not None:
            pump.cancel()
        group = self._listeners.get(listener.call_id)
        if group is not None:
            group.discard(listener)
            if not group:
                self._listeners.pop(listener.call_id, None)

    def listener_count(self, call_id: str) -> int:
        return len(self._listeners.get(call_id, ()))

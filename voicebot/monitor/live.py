"""LiveBoard: this process's view of every call in progress (all workers, through the bus).

It loads open calls from the store at start, then applies bus events in order and fans each change
out to the browsers connected to this process. Everything it holds or sends is redacted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from voicebot.calls.bus import EventBus, Subscription
from voicebot.events import CallEvent
from voicebot.french.redaction import mask_caller, redact, redact_data
from voicebot.calls.store import CallStore
from voicebot.monitor.labels import STATE_FR, guard_label, latency_text

log = logging.getLogger(__name__)
KEEP_ENDED_S = 120.0


@dataclass
class LiveCall:
    """One call in progress as the monitor shows it (caller masked)."""

    id: str
    started_at: float
    channel: str = ""
    caller: str = "inconnu"
    worker: str = ""
    state: str = "greeting"
    topic: str = ""
    alerts: list[dict[str, Any]] = field(default_factory=list)
    turns: dict[int, dict[str, Any]] = field(default_factory=dict)
    partial: str = ""
    bot_partial: str = ""
    ended_at: float | None = None
    end_reason: str = ""
    abnormal: bool = False
    transferred: bool = False
    handoff_id: str = ""

    def summary(self, now: float | None = None) -> dict[str, Any]:
        now = now or time.time()
        last = self.turns[max(self.turns)] if self.turns else None
        return {
            "id": self.id, "state": self.state, "state_label": STATE_FR.get(self.state, self.state),
            "started_at": self.started_at, "duration_s": round((self.ended_at or now) - self.started_at, 1),
            "turns": len(self.turns), "caller": self.caller, "channel": self.channel, "worker": self.worker,
            "topic": self.topic, "alerts": self.alerts, "live": self.ended_at is None,
            "ended_at": self.ended_at, "end_reason": self.end_reason, "ended_abnormally": self.abnormal,
            "transferred": self.transferred, "handoff_id": self.handoff_id,
            "last_latency_ms": (last or {}).get("latency_ms", {}),
        }


class LiveBoard:
    """The live calls of every worker, kept from the bus for the monitor's pages and sockets."""

    def __init__(self, store: CallStore, bus: EventBus) -> None:
        self.store = store
        self.bus = bus
        self.calls: dict[str, LiveCall] = {}
        self._clients: set[Subscription] = set()
        self._sub: Subscription | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._sub = self.bus.subscribe(None)
        await self._sub.wait_ready()  # subscribe first, then load: nothing falls in between
        for row in await asyncio.to_thread(self.store.open_calls):
            call = LiveCall(id=row["id"], started_at=row["started_at"], channel=row["channel"],
                            caller=row["caller"], worker=row["worker_id"], state=row["state"],
                            topic=row["topic"], transferred=row["transferred"],
                            alerts=[{"kind": k, "message": "", "ts": None} for k in row.get("alerts") or []])
            for t in await asyncio.to_thread(self.store.turns, row["id"]):
                call.turns[t["turn"]] = _turn_view(t)
            self.calls.setdefault(call.id, call)
        self._task = asyncio.create_task(self._consume(), name="monitor-board")

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        for c in list(self._clients):
            await c.close()

    def client(self) -> Subscription:
        """A browser's feed: every redacted event this board applied, in order."""
        sub = Subscription(None, 2000, self._drop_client)
        sub.ready.set()
        self._clients.add(sub)
        return sub

    async def _drop_client(self, sub: Subscription) -> None:
        self._clients.discard(sub)

    async def _consume(self) -> None:
        assert self._sub is not None
        async for event in self._sub:
            try:
                shown = self.apply(event)
            except Exception as exc:
                log.exception("board_error", extra={"call_id": event.call_id, "error": str(exc)})
                continue
            if shown is not None:
                for client in list(self._clients):
                    client.offer(shown)

    def live_calls(self) -> list[dict[str, Any]]:
        now = time.time()
        for cid in [c.id for c in self.calls.values() if c.ended_at and now - c.ended_at > KEEP_ENDED_S]:
            self.calls.pop(cid, None)
        return [c.summary(now) for c in sorted(self.calls.values(), key=lambda c: c.started_at)
                if c.ended_at is None]

    def apply(self, event: CallEvent) -> CallEvent | None:
        """Update the board; return the redacted event to show, or None for events not shown."""
        if event.type == "control":
            return None
        d = redact_data(event.data)
        if event.type == "handoff":
            d["card"] = event.data.get("card")  # built from redacted turns already
        call = self.calls.get(event.call_id)
        if call is None:
            if event.type in ("call_ended", "call_lost", "handoff"):
                return CallEvent(event.call_id, event.type, d, event.ts, event.id)
            call = self.calls[event.call_id] = LiveCall(id=event.call_id, started_at=event.ts)
        t = event.type
        if t == "call_started":
            call.started_at = event.ts
            call.channel = str(d.get("channel", ""))
            call.caller = str(d.get("caller") or mask_caller(""))
            call.worker = str(d.get("worker", ""))
        elif t == "state":
            call.state = str(d.get("state", call.state))
        elif t == "transcript_partial":
            call.partial = str(d.get("text", ""))
        elif t == "transcript_final":
            call.partial = str(d.get("text", ""))
        elif t == "bot_text":
            call.bot_partial = (call.bot_partial + " " + str(d.get("text", ""))).strip()
        elif t == "turn":
            view = _turn_view({**d, "ended_at": event.ts})
            call.turns[view["turn"]] = view
            call.partial = call.bot_partial = ""
            srcs = view["sources"]
            if srcs:
                call.topic = srcs[0]
            elif view["caller_text"]:
                call.topic = view["caller_text"][:120]
            d = view
        elif t == "alert":
            call.alerts.append({"kind": d.get("kind"), "message": d.get("message"), "ts": event.ts})
        elif t == "transfer":
            if str(d.get("status", "")).lower() not in ("refused", "failed", "error"):
                call.transferred = True
                call.state = "transferring"
        elif t == "handoff":
            call.handoff_id = str(d.get("handoff_id", ""))
        elif t in ("call_ended", "call_lost"):
            call.ended_at = event.ts
            call.state = "ended"
            call.end_reason = "worker_lost" if t == "call_lost" else str(d.get("reason", ""))
            call.abnormal = t == "call_lost" or d.get("reason") == "error"
        return CallEvent(event.call_id, t, d, event.ts, event.id)

    def snapshot(self, call_id: str) -> dict[str, Any] | None:
        call = self.calls.get(call_id)
        if call is None:
            return None
        return {**call.summary(), "turns_detail": [call.turns[k] for k in sorted(call.turns)],
                "partial": call.partial, "bot_partial": call.bot_partial}


def _source_label(src: Any) -> str:
    if isinstance(src, dict):
        return str(src.get("title") or src.get("id") or src.get("url") or src.get("source") or "")
    return str(src)


def _turn_view(t: dict[str, Any]) -> dict[str, Any]:
    """A turn as the monitor shows it: redacted texts, latency fields, source labels, plain French labels."""
    latency = {k: v for k, v in dict(t.get("latency_ms") or {}).items() if isinstance(v, (int, float))}
    return {
        "turn": int(t.get("turn", 0)),
        "caller_text": redact(str(t.get("caller_text") or "")),
        "bot_text": redact(str(t.get("bot_text") or "")),
        "latency_ms": latency,
        "latency_text": latency_text(latency),
        "sources": [s for s in (_source_label(x) for x in (t.get("sources") or [])) if s],
        "guard": str(t.get("guard") or ""),
        "guard_label": guard_label(str(t.get("guard") or "")),
        "interrupted": bool(t.get("interrupted")),
        "ended_at": t.get("ended_at"),
    }

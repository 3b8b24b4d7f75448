"""CallRecorder: listens to the bus and writes the call store; raises alerts and builds handoffs.

Side effects leave the pipeline only through the bus: the recorder is where they land. Each worker
records the calls it holds (call_started.data.worker == its id); with the in-process bus it records
every call. It also renews this worker's lease in the store and closes the calls of dead workers.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from voicebot.calls import metrics, outcomes
from voicebot.calls.alerts import AlertDetector
from voicebot.calls.bus import EventBus, MemoryEventBus, Subscription
from voicebot.events import CallEvent
from voicebot.calls.handoff import LlmSummariser, build_handoff, summarise_card
from voicebot.french.redaction import mask_caller, redact, redact_data, redact_tree
from voicebot.calls.settings import CallsSettings
from voicebot.calls.store import CallStore
from voicebot.calls.webhook import WebhookSender

log = logging.getLogger(__name__)

# "dtmf" is not stored one digit per row (a PIN or a card number typed on the keypad): the call's end
# stores one masked summary (how many keys, whether 0 asked for an agent).
STORED_EVENT_TYPES = {"call_started", "state", "transcript_final", "barge_in", "silence", "transfer",
                      "error", "call_ended", "lookup"}


class CallRecorder:
    """Writes a worker's call events from the bus into the call store, and notices calls lost with a dead worker."""

    def __init__(self, store: CallStore, bus: EventBus, settings: CallsSettings, worker_id: str,
                 *, record_foreign: bool | None = None) -> None:
        self.store = store
        self.bus = bus
        self.settings = settings
        self.worker_id = worker_id
        # With one process every event is ours; with Redis only calls started by this worker are.
        self.record_foreign = isinstance(bus, MemoryEventBus) if record_foreign is None else record_foreign
        self.webhook = (WebhookSender(settings.webhook_url, settings.webhook_secret, settings.webhook_retries,
                                      settings.webhook_backoff_s, settings.webhook_timeout_s)
                        if settings.webhook_url else None)
        self.summariser = (LlmSummariser(settings.summary_llm_url, settings.summary_llm_model,
                                         settings.summary_llm_api_key, settings.summary_llm_timeout_s)
                           if settings.summary_llm_url else None)
        self._owned: set[str] = set()
        self._foreign: set[str] = set()
        self._detectors: dict[str, AlertDetector] = {}
        self._turn_started: dict[str, float] = {}
        self._handed_off: set[str] = set()
        self._last_scheme: dict[str, str] = {}
        # call id -> the question the bot answered with a clarifying question, until the caller's next turn
        self._clarifying: dict[str, dict[str, Any]] = {}
        self._dtmf: dict[str, list[int]] = {}  # call id -> [keys pressed, of which "0"]
        self._tasks: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()
        self._sub: Subscription | None = None
        self.processed = 0

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.store.migrate)
        await asyncio.to_thread(self.store.heartbeat, self.worker_id)
        # Calls this worker id left open in a previous life (crash, kill -9) ended abnormally.
        lost = await asyncio.to_thread(self.store.end_lost_calls, 0, None, self.worker_id)
        await self._announce_lost(lost)
        self._sub = sub = self.bus.subscribe(None)
        await sub.wait_ready()
        self._tasks = [asyncio.create_task(self._consume(), name="call-recorder"),
                       asyncio.create_task(self._heartbeat(), name="call-recorder-heartbeat")]

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.close()
        for t in self._tasks:
            t.cancel()
        for t in [*self._tasks, *self._background]:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks = []

    async def _heartbeat(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.store.heartbeat, self.worker_id)
                lost = await asyncio.to_thread(self.store.end_lost_calls, self.settings.lease_s)
                await self._announce_lost(lost)
            except Exception as exc:
                log.error("recorder_heartbeat_failed", extra={"error": str(exc)})
            await asyncio.sleep(self.settings.heartbeat_s)

    async def _announce_lost(self, lost: list[dict[str, Any]]) -> None:
        for call in lost:
            log.warning("call_lost", extra={"call_id": call["id"], "worker": call["worker_id"]})
            metrics.CALLS_ENDED.labels("worker_lost").inc()
            await self.bus.publish(CallEvent(call["id"], "call_lost", {
                "worker": call["worker_id"], "reason": "worker_lost"}))

    async def _consume(self) -> None:
        assert self._sub is not None
        async for event in self._sub:
            try:
                await self.handle(event)
            except Exception as exc:  # one bad event must not stop the recording of other calls
                log.exception("recorder_error",
                              extra={"call_id": event.call_id, "type": event.type, "error": str(exc)})
            self.processed += 1

    # -- events -----------------------------------------------------------------------------
    def _owns(self, event: CallEvent) -> bool:
        cid = event.call_id
        if event.type == "call_started":
            worker = event.data.get("worker") or ""
            if worker in ("", self.worker_id) or self.record_foreign:
                self._owned.add(cid)
                return True
            self._foreign.add(cid)
            return False
        if cid in self._owned:
            return True
        return self.record_foreign and cid not in self._foreign

    async def handle(self, event: CallEvent) -> None:
        if event.type in ("alert", "handoff", "control", "call_lost") or not self._owns(event):
            return
        cid, d, s = event.call_id, event.data, self.store
        raw = self.settings.store_raw_text
        if event.type == "call_started":
            channel = str(d.get("channel", ""))
            raw_caller = (d.get("raw") or {}).get("caller")
            await asyncio.to_thread(s.start_call, cid, started_at=event.ts, channel=channel,
                                    caller=mask_caller(str(d.get("caller", ""))),
                                    caller_raw=str(raw_caller) if raw and raw_caller else None,
                                    worker_id=str(d.get("worker") or self.worker_id))
            metrics.ACTIVE_CALLS.inc()
            metrics.CALLS_TOTAL.labels(channel or "unknown").inc()
        elif cid not in self._detectors and event.type != "call_ended":
            await asyncio.to_thread(s.ensure_call, cid, event.ts, self.worker_id)
        detector = self._detectors.setdefault(cid, AlertDetector(self.settings.long_silence_s,
                                                                 list(self.settings.anger_words)))
        if event.type in STORED_EVENT_TYPES:
            stored = {k: v for k, v in redact_data(d).items() if k != "raw"}
            await asyncio.to_thread(s.add_event, cid, event.id, event.type, event.ts, stored)

        if event.type == "state" and d.get("state") and d.get("state") != "ended":
            await asyncio.to_thread(s.update_call, cid, state=str(d["state"]))
        elif event.type in ("transcript_partial", "transcript_final"):
            self._turn_started.setdefault(cid, event.ts)
        elif event.type == "turn":
            await self._record_turn(event)
        elif event.type == "transfer":
            metrics.TRANSFERS.labels(str(d.get("reason", "")), str(d.get("status", ""))).inc()
            if str(d.get("status", "")).lower() not in ("refused", "failed", "error") and cid not in self._handed_off:
                self._handed_off.add(cid)
                await self._clarification_failed(cid, event.ts)
                await self._question_before_transfer(cid, event.ts)
                await self._handoff(event)
        elif event.type == "dtmf":
            keys = self._dtmf.setdefault(cid, [0, 0])
            keys[0] += 1
            keys[1] += str(d.get("digit")) == "0"
        elif event.type == "call_ended":
            await self._clarification_failed(cid, event.ts)  # the caller hung up on a clarifying question
            await self._store_dtmf_summary(cid, event.ts)
            await asyncio.to_thread(s.end_call, cid, ended_at=event.ts, reason=str(d.get("reason", "")),
                                    abnormal=d.get("reason") == "error")
            if cid in self._owned or self.record_foreign:
                metrics.ACTIVE_CALLS.dec()
            metrics.CALLS_ENDED.labels(str(d.get("reason", ""))).inc()
            for table in (self._detectors, self._turn_started, self._last_scheme, self._clarifying):
                table.pop(cid, None)
            self._owned.discard(cid)
            self._handed_off.discard(cid)
            return

        for kind, message in detector.feed(event):
            alert = CallEvent(cid, "alert", {"kind": kind, "message": message, "turn": d.get("turn")})
            metrics.ALERTS.labels(kind).inc()
            await asyncio.to_thread(s.add_alert, cid, kind)
            await asyncio.to_thread(s.add_event, cid, alert.id, "alert", alert.ts, alert.data)
            await self.bus.publish(alert)

    async def _store_dtmf_summary(self, cid: str, ts: float) -> None:
        keys = self._dtmf.pop(cid, None)
        if keys:
            summary = {"count": keys[0], "agent_requests": keys[1], "digits": "•" * min(keys[0], 32)}
            await asyncio.to_thread(self.store.add_event, cid, uuid.uuid4().hex, "dtmf", ts, summary)

    async def _record_turn(self, event: CallEvent) -> None:
        cid, d = event.call_id, event.data
        raw = self.settings.store_raw_text
        raw_texts = d.get("raw") or {}
        caller_text, bot_text = str(d.get("caller_text") or ""), str(d.get("bot_text") or "")
        latency = {k: v for k, v in dict(d.get("latency_ms") or {}).items() if isinstance(v, (int, float))}
        sources = list(d.get("sources") or [])
        await asyncio.to_thread(
            self.store.add_turn, cid, int(d.get("turn", 0)), ended_at=event.ts,
            started_at=self._turn_started.pop(cid, None), caller_text=redact(caller_text),
            bot_text=redact(bot_text), latency_ms=latency, sources=sources, guard=str(d.get("guard") or ""),
            interrupted=bool(d.get("interrupted")),
            caller_text_raw=str(raw_texts.get("caller_text", caller_text)) if raw else None,
            bot_text_raw=str(raw_texts.get("bot_text", bot_text)) if raw else None)
        await self._record_question(cid, int(d.get("turn", 0)), event.ts, caller_text, d, sources)
        if sources:
            first = sources[0]
            topic = str(first.get("title") or first.get("id") or "") if isinstance(first, dict) else str(first)
            await asyncio.to_thread(self.store.update_call, cid, topic=topic[:200])
        elif caller_text.strip():
            await asyncio.to_thread(self.store.update_call, cid, topic=redact(caller_text)[:120])
        for stage, ms in latency.items():
            metrics.TURN_STAGE_LATENCY.labels(stage).observe(ms / 1000.0)

    async def _record_question(self, cid: str, turn: int, ts: float, caller_text: str, d: dict[str, Any],
                               sources: list) -> None:
        """An unanswered question is work for a document owner: keep it (redacted) for the gaps page.

        So is a question the bot had to ask the caller to clarify (the dialogue's "clarify" action) when
        the caller's next turn, a transfer or the call's end follows without an answer.
        """
        own = outcomes.first_scheme(sources)
        if own and cid not in self._last_scheme:
            await asyncio.to_thread(self.store.set_call_scheme, cid, own)
        scheme = own or self._last_scheme.get(cid, "")
        if scheme:
            self._last_scheme[cid] = scheme
        guard, action = str(d.get("guard") or ""), str(d.get("action") or "")
        path = outcomes.answer_path(guard)
        kind = outcomes.gap_kind(path, caller_text)
        if kind is not None:
            await asyncio.to_thread(self.store.add_question, cid, turn, ts=ts, kind=kind,
                                    text=redact(caller_text)[:500], scheme=scheme)
        if cid in self._clarifying:
            verdict = outcomes.after_clarification(path, action, guard)
            if verdict == "failed":
                await self._clarification_failed(cid, ts)
            elif verdict == "resolved":
                self._clarifying.pop(cid)
        if outcomes.asks_clarification(action, guard) and outcomes.is_question(caller_text):
            self._clarifying.setdefault(cid, {"turn": turn, "text": redact(caller_text)[:500], "scheme": scheme})

    async def _clarification_failed(self, cid: str, ts: float) -> None:
        """The question the bot asked the caller to clarify got no answer: work for a document owner."""
        asked = self._clarifying.pop(cid, None)
        if asked is not None:
            await asyncio.to_thread(self.store.add_question, cid, asked["turn"], ts=ts, kind="clarification_failed",
                                    text=asked["text"], scheme=asked["scheme"])

    async def _question_before_transfer(self, cid: str, ts: float) -> None:
        last = await asyncio.to_thread(self.store.last_question_turn, cid)
        if last is not None and len(last["caller_text"].strip()) >= 8:
            await asyncio.to_thread(self.store.add_question, cid, int(last["turn"]), ts=ts, kind="transferred",
                                    text=last["caller_text"][:500],
                                    scheme=last["scheme"] or self._last_scheme.get(cid, ""))

    async def _handoff(self, event: CallEvent) -> None:
        cid, d = event.call_id, event.data
        call = await asyncio.to_thread(self.store.get_call, cid) or {"id": cid, "caller": ""}
        turns = await asyncio.to_thread(self.store.turns, cid)
        lookups = [e["data"] for e in await asyncio.to_thread(self.store.events, cid, ["lookup"])]
        card = build_handoff(call, turns, reason=str(d.get("reason", "")), queue=str(d.get("queue", "")),
                             now=event.ts, lookups=lookups)
        card = await summarise_card(card, self.summariser)
        payload = redact_tree(card.to_dict())  # the summary may come from an LLM: redact what leaves
        await asyncio.to_thread(self.store.add_handoff, card.id, cid, created_at=card.created_at,
                                reason=card.reason, queue=card.queue, card=payload)
        metrics.HANDOFFS.labels(card.summary_source).inc()
        await self.bus.publish(CallEvent(cid, "handoff", {"handoff_id": card.id, "queue": card.queue,
                                                          "reason": card.reason, "card": payload}))
        if self.webhook is not None:
            task = asyncio.create_task(self._deliver(payload))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _deliver(self, payload: dict[str, Any]) -> None:
        ok = await self.webhook.send(payload)  # type: ignore[union-attr]
        metrics.WEBHOOKS.labels("ok" if ok else "failed").inc()


def default_worker_id() -> str:
    import os
    import socket

    return f"{socket.gethostname()}-{os.getpid()}"

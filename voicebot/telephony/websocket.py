"""WebSocket media entries: the binary PCM endpoint and the Twilio Media Streams–compatible endpoint.

Both end in a pipecat ``FastAPIWebsocketTransport`` (audio) plus a ``WebSocketCallSession`` (control),
handed to the app's call runner; this module knows nothing of the pipeline. Protocols: see README.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Awaitable, Callable

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pipecat.transports.base_transport import BaseTransport
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from starlette.websockets import WebSocketState

from voicebot.call import SHUTDOWN, CallInfo
from voicebot.events import CallEvent
from voicebot.telephony.serializers import PcmSerializer, SafeTwilioSerializer

log = logging.getLogger(__name__)

# Close codes (RFC 6455 §7.4; 4000-4999 are ours).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_BAD_REQUEST = 4400


# Pipeline events forwarded to a binary-endpoint client, and their names there.
CLIENT_EVENTS = {
    "transcript_final": "transcript",
    "bot_text": "bot_text",
    "turn": "turn",
    "barge_in": "barge_in",
    "silence": "silence",
    "transfer": "transfer_status",
    "error": "error",
    "dtmf": "dtmf",
}


class WebSocketCallSession:
    """``CallSession`` of a WebSocket call: events to the peer, hang-up, transfer (an event to the peer).

    ``send_events``: the binary PCM endpoint's client gets the pipeline events of ``CLIENT_EVENTS``; a
    Twilio media stream takes none.
    """

    def __init__(self, info: CallInfo, websocket: WebSocket, *, send_events: bool):
        self.info = info
        self.ws = websocket
        self.send_events = send_events
        self.hangup_reason: str | None = None
        self._closed = asyncio.Event()
        self._outbox: asyncio.Queue[dict | None] = asyncio.Queue()
        self._sender = asyncio.create_task(self._send_loop())

    @property
    def end_reason(self) -> str | None:
        """The bot's hang-up reason; "caller_hangup" once the socket is gone otherwise; None while it is up."""
        if self.hangup_reason:
            return self.hangup_reason
        if self._closed.is_set() or self.ws.client_state != WebSocketState.CONNECTED:
            return "caller_hangup"
        return None

    async def wait_ended(self) -> str | None:
        await self._closed.wait()
        return self.end_reason

    async def _send_loop(self) -> None:
        while (msg := await self._outbox.get()) is not None:
            if self.ws.client_state != WebSocketState.CONNECTED:
                continue
            with contextlib.suppress(Exception):  # the peer may be gone: nothing to tell it then
                await self.ws.send_text(json.dumps(msg, ensure_ascii=False))

    def send_message(self, msg: dict) -> None:
        """Queue a JSON message for the peer (kept in order, never blocks the pipeline)."""
        self._outbox.put_nowait(msg)

    def send_event(self, event: CallEvent) -> None:
        if self.send_events and event.type in CLIENT_EVENTS:
            self.send_message({"event": CLIENT_EVENTS[event.type], **event.data})

    def report_error(self, code: str, message: str) -> None:
        log.warning("call %s: %s: %s", self.info.call_id, code, message)
        self.send_message({"event": "error", "code": code, "message": message})

    async def hangup(self, reason: str) -> None:
        self.hangup_reason = reason
        self.send_message({"event": "hangup", "reason": reason})
        await self.close(reason)

    async def transfer(self, queue: str, target: str) -> bool:
        # Over WebSocket the media gateway carries out the transfer; the event tells it where to.
        self.send_message({"event": "transfer", "queue": queue, "target": target, "call_id": self.info.call_id})
        return True

    async def close(self, reason: str) -> None:
        """Flush the queued messages, close the socket (1001 when the worker shuts down), end the call."""
        await self._outbox.put(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._sender, 2.0)
        if self.ws.client_state == WebSocketState.CONNECTED:
            code = CLOSE_GOING_AWAY if reason == SHUTDOWN else CLOSE_NORMAL
            with contextlib.suppress(Exception):
                await self.ws.close(code, reason[:120])
        self._closed.set()


CallRunner = Callable[[BaseTransport, WebSocketCallSession], Awaitable[None]]


class Admission:
    """Counts calls in progress; refuses beyond the limit so that calls in progress keep their quality."""

    def __init__(self, limit: int):
        self.limit = limit
        self.active = 0

    def try_enter(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def leave(self) -> None:
        self.active = max(0, self.active - 1)


async def _refuse(ws: WebSocket, code: int, error: str, message: str) -> None:
    await ws.accept()
    with contextlib.suppress(Exception):
        await ws.send_text(json.dumps({"event": "error", "code": error, "message": message}, ensure_ascii=False))
        await ws.close(code, message[:120])


async def _refuse_busy(ws: WebSocket, admission) -> None:
    """Full: close 1013 with a reason that says so and when to retry (the refusal is counted by admission)."""
    message = getattr(admission, "refusal_message", lambda: "too many calls in progress, try again later")()
    retry = getattr(admission, "retry_after_s", None)
    await ws.accept()
    with contextlib.suppress(Exception):
        await ws.send_text(json.dumps({"event": "error", "code": "busy", "message": message, "retry_after_s": retry},
                                      ensure_ascii=False))
        await ws.close(CLOSE_TRY_AGAIN_LATER, message[:120])


def _transport(ws: WebSocket, serializer) -> FastAPIWebsocketTransport:
    return FastAPIWebsocketTransport(
        websocket=ws,
        params=FastAPIWebsocketParams(audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False,
                                      serializer=serializer, allowed_origins=[]),
    )


def websocket_router(*, allowed_rates: list[int], max_frame_bytes: int, admission: Admission,
                     run_call: CallRunner) -> APIRouter:
    router = APIRouter()

    @router.websocket("/ws/pcm")
    async def pcm_endpoint(ws: WebSocket):
        raw_rate = ws.query_params.get("rate", "8000")
        if not raw_rate.isdigit() or int(raw_rate) not in allowed_rates:
            await _refuse(ws, CLOSE_BAD_REQUEST, "bad_rate",
                          f"unsupported sample rate {raw_rate!r}: use one of {', '.join(map(str, allowed_rates))}")
            return
        if not admission.try_enter():
            await _refuse_busy(ws, admission)
            return
        try:
            await ws.accept()
            info = CallInfo(call_id=uuid.uuid4().hex[:16], channel="ws-pcm",
                            caller=ws.query_params.get("caller", "")[:64], sample_rate=int(raw_rate))
            session = WebSocketCallSession(info, ws, send_events=True)
            session.send_message({"event": "connected", "call_id": info.call_id, "rate": info.sample_rate})

            def on_control(msg: dict) -> None:
                if msg["event"] == "hangup":
                    asyncio.get_running_loop().create_task(session.close("caller_hangup"))
                elif msg["event"] == "ping":
                    session.send_message({"event": "pong"})

            serializer = PcmSerializer(info.sample_rate, max_bytes=max_frame_bytes,
                                       on_error=session.report_error, on_control=on_control)
            await run_call(_transport(ws, serializer), session)
        finally:
            admission.leave()

    @router.websocket("/ws/twilio")
    async def twilio_endpoint(ws: WebSocket):
        if not admission.try_enter():
            await _refuse_busy(ws, admission)
            return
        try:
            await ws.accept()
            start = await _twilio_start(ws)
            if start is None:
                return
            stream_sid, call_sid, caller = start
            info = CallInfo(call_id=call_sid or uuid.uuid4().hex[:16], channel="ws-twilio", caller=caller,
                            sample_rate=8000, extra={"stream_sid": stream_sid})
            session = WebSocketCallSession(info, ws, send_events=False)
            serializer = SafeTwilioSerializer(
                stream_sid, call_sid, on_error=session.report_error,
                params=SafeTwilioSerializer.InputParams(auto_hang_up=False),
            )
            await run_call(_transport(ws, serializer), session)
        finally:
            admission.leave()

    return router


async def _twilio_start(ws: WebSocket) -> tuple[str, str, str] | None:
    """Read Twilio's 'connected' and 'start' messages; None (and a close) if they are not right."""
    try:
        for _ in range(3):
            raw = await asyncio.wait_for(ws.receive_text(), 10.0)
            msg = json.loads(raw)
            if isinstance(msg, dict) and msg.get("event") == "start":
                start = msg.get("start") or {}
                sid = start.get("streamSid") or msg.get("streamSid")
                if not sid:
                    break
                params = start.get("customParameters") or {}
                return sid, start.get("callSid", ""), str(params.get("caller", ""))[:64]
    except (asyncio.TimeoutError, WebSocketDisconnect, json.JSONDecodeError, KeyError, TypeError):
        pass
    with contextlib.suppress(Exception):
        await ws.send_text(json.dumps({"event": "error", "code": "bad_start",
                                       "message": "expected Twilio 'connected' then 'start' with a streamSid"}))
        await ws.close(CLOSE_BAD_REQUEST, "expected Twilio start message")
    return None

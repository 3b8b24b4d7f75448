"""WebSocket media entries: the binary PCM endpoint and the Twilio Media Streams–compatible endpoint.

Both end in a pipecat ``FastAPIWebsocketTransport`` (audio) plus a ``WebSocketCallSession`` (control),
handed to the app's call runner; this module knows nothing of the pipeline. Protocols: see README.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from typing import Awaitable, Callable

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pipecat.transports.base_transport import BaseTransport
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from starlette.websockets import WebSocketState

from voicebot.call import SHUTDOWN, CallInfo
from voicebot.events import CallEvent
from voicebot.telephony.capacity import Capacity
from voicebot.telephony.serializers import PcmSerializer, SafeTwilioSerializer

log = logging.getLogger(__name__)

# Close codes (RFC 6455 §7.4; 4000-4999 are ours).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_BAD_REQUEST = 4400
CLOSE_TOO_MANY = 4429

# An external reference (Twilio callSid/streamSid) is only ever stored beside our own call id: letters,
# digits and -_.: up to 64 characters (Twilio's are 34). Anything else is refused, never rewritten.
_EXTERNAL_ID_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_CALLER_BAD_CHARS_RE = re.compile(r"[^0-9A-Za-z+*#@:._\-]")


def valid_external_id(value: object) -> str | None:
    """The value if it is a safe external id, else None."""
    return value if isinstance(value, str) and _EXTERNAL_ID_RE.fullmatch(value) else None


def clean_caller(value: object) -> str:
    """A caller id as a short printable token (it is masked before it leaves the pipeline)."""
    return _CALLER_BAD_CHARS_RE.sub("", str(value or ""))[:64]


def new_call_id() -> str:
    """Call ids are always ours: a client can name its own side of a call, never pick our id."""
    return uuid.uuid4().hex[:16]


class PendingGate:
    """Caps sockets per source that hold a connection without being a call yet (before Twilio 'start')."""

    def __init__(self, per_source: int) -> None:
        self.per_source = per_source
        self.pending: dict[str, int] = {}

    def try_enter(self, source: str) -> bool:
        if self.per_source > 0 and self.pending.get(source, 0) >= self.per_source:
            return False
        self.pending[source] = self.pending.get(source, 0) + 1
        return True

    def leave(self, source: str) -> None:
        n = self.pending.get(source, 0) - 1
        if n > 0:
            self.pending[source] = n
        else:
            self.pending.pop(source, None)


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
        self._errors: dict[str, int] = {}
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
            self.send_message({"event": CLIENT_EVENTS[event.type],
                               **{k: v for k, v in event.data.items() if k != "raw"}})  # raw: store only

    def report_error(self, code: str, message: str) -> None:
        # one log line for the first error of each kind, then one per 1000: a flood costs no disk
        n = self._errors[code] = self._errors.get(code, 0) + 1
        if n == 1 or n % 1000 == 0:
            log.warning("%s (%d so far): %s", code, n, message, extra={"call_id": self.info.call_id})
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


async def _refuse(ws: WebSocket, code: int, error: str, message: str, accepted: bool = False) -> None:
    if not accepted:
        await ws.accept()
    with contextlib.suppress(Exception):
        await ws.send_text(json.dumps({"event": "error", "code": error, "message": message}, ensure_ascii=False))
        await ws.close(code, message[:120])


async def _refuse_busy(ws: WebSocket, admission, accepted: bool = False) -> None:
    """Full: close 1013 with a reason that says so and when to retry (the refusal is counted by admission)."""
    message = getattr(admission, "refusal_message", lambda: "too many calls in progress, try again later")()
    retry = getattr(admission, "retry_after_s", None)
    if not accepted:
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


def websocket_router(*, allowed_rates: list[int], max_frame_bytes: int, admission: Capacity,
                     run_call: CallRunner, start_timeout_s: float = 5.0, max_pending_per_source: int = 4
                     ) -> APIRouter:
    router = APIRouter()
    pending = PendingGate(max_pending_per_source)

    @router.websocket("/ws/pcm")
    async def pcm_endpoint(ws: WebSocket):
        raw_rate = ws.query_params.get("rate", "8000")
        if not raw_rate.isdigit() or int(raw_rate) not in allowed_rates:
            await _refuse(ws, CLOSE_BAD_REQUEST, "bad_rate",
                          f"unsupported sample rate {raw_rate!r}: use one of {', '.join(map(str, allowed_rates))}")
            return
        if not admission.try_enter("ws-pcm"):
            await _refuse_busy(ws, admission)
            return
        try:
            await ws.accept()
            info = CallInfo(call_id=new_call_id(), channel="ws-pcm",
                            caller=clean_caller(ws.query_params.get("caller", "")), sample_rate=int(raw_rate))
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
            admission.leave("ws-pcm")

    @router.websocket("/ws/twilio")
    async def twilio_endpoint(ws: WebSocket):
        # Until 'start' the socket is nobody's call: it holds no call slot, gets start_timeout_s to speak,
        # and one source may only keep a few such sockets open.
        source = ws.client.host if ws.client else "?"
        if not pending.try_enter(source):
            await _refuse(ws, CLOSE_TOO_MANY, "too_many_pending",
                          "too many connections waiting for 'start' from this address")
            return
        try:
            await ws.accept()
            start = await _twilio_start(ws, start_timeout_s)
        finally:
            pending.leave(source)
        if start is None:
            return
        stream_sid, call_sid, caller = start
        if not admission.try_enter("ws-twilio"):
            await _refuse_busy(ws, admission, accepted=True)
            return
        try:
            info = CallInfo(call_id=new_call_id(), channel="ws-twilio", caller=caller, sample_rate=8000,
                            extra={"stream_sid": stream_sid, "external_id": call_sid})
            session = WebSocketCallSession(info, ws, send_events=False)
            serializer = SafeTwilioSerializer(
                stream_sid, call_sid, on_error=session.report_error,
                params=SafeTwilioSerializer.InputParams(auto_hang_up=False),
            )
            await run_call(_transport(ws, serializer), session)
        finally:
            admission.leave("ws-twilio")

    return router


async def _twilio_start(ws: WebSocket, timeout_s: float = 5.0) -> tuple[str, str, str] | None:
    """Read Twilio's 'connected' and 'start' messages within timeout_s in all; None (and a close) if not right.

    streamSid and callSid must be safe external ids (see valid_external_id); callSid may be absent.
    """
    message = "expected Twilio 'connected' then 'start' with a streamSid"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        for _ in range(3):
            raw = await asyncio.wait_for(ws.receive_text(), max(0.01, deadline - loop.time()))
            msg = json.loads(raw)
            if isinstance(msg, dict) and msg.get("event") == "start":
                start = msg.get("start") or {}
                sid = valid_external_id(start.get("streamSid") or msg.get("streamSid"))
                call_sid = start.get("callSid") or ""
                if not sid or (call_sid and not valid_external_id(call_sid)):
                    message = "streamSid/callSid must be 1-64 letters, digits or -_.:"
                    break
                params = start.get("customParameters") or {}
                caller = clean_caller(params.get("caller", "") if isinstance(params, dict) else "")
                return sid, call_sid, caller
    except asyncio.TimeoutError:
        message = f"no 'start' within {timeout_s:g} s"
    except (WebSocketDisconnect, json.JSONDecodeError, KeyError, TypeError, AttributeError, RuntimeError):
        pass
    with contextlib.suppress(Exception):
        await ws.send_text(json.dumps({"event": "error", "code": "bad_start", "message": message}))
        await ws.close(CLOSE_BAD_REQUEST, message[:120])
    return None

"""pipecat transport over one call's RTP session, and the ``CallSession`` of a SIP call.

The same pipeline serves SIP and WebSocket callers: input pushes ``InputAudioRawFrame`` (PCM16 mono
resampled from 8 kHz G.711 to the pipeline's input rate with pipecat's soxr stream resampler) and
``InputDTMFFrame``; output resamples ``OutputAudioRawFrame`` to 8 kHz and hands it to the RTP
pacer (20 ms packets). When the caller hangs up (BYE, CANCEL, RTP timeout) the transport asks the
pipeline worker to cancel (``CancelWorkerFrame`` upstream) and fires ``on_client_disconnected``.

``SipEndpoint`` is the SIP entry the app uses: the protocol-only ``SipUserAgent`` hands each answered
``SipCall`` up here, where it becomes a ``SipTransport`` + ``SipCallSession`` for ``on_call``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (CancelFrame, CancelWorkerFrame, EndFrame, Frame, InputAudioRawFrame,
                                   InputDTMFFrame, InterruptionFrame, OutputAudioRawFrame, OutputDTMFFrame,
                                   OutputDTMFUrgentFrame, StartFrame)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport, TransportParams

from voicebot.events import CallEvent
from voicebot.call import CallInfo

from .rtp.session import SAMPLE_RATE, RtpSession
from .settings import SipSettings
from .sip.endpoint import SipCall, SipUserAgent
from .sip.transaction import Timers

log = logging.getLogger(__name__)

MAX_EARLY_PACKETS = 250  # 5 s of 20 ms packets kept until the pipeline starts
OUTPUT_LEAD_S = 0.06  # audio kept queued ahead of the RTP pacer: small, so barge-in cuts quickly
_KEYPAD = {k.value: k for k in KeypadEntry}


def default_params() -> TransportParams:
    """Audio in and out; rates come from the pipeline (PipelineParams) unless set here."""
    return TransportParams(audio_in_enabled=True, audio_out_enabled=True, audio_out_10ms_chunks=2,
                           audio_out_end_silence_secs=0)


class SipInputTransport(BaseInputTransport):
    """Caller side of a SIP call into the pipeline: RTP audio and DTMF as pipecat frames."""

    def __init__(self, transport: "SipTransport", params: TransportParams, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self._sip = transport
        self._reader: asyncio.Task | None = None
        self._resampler = create_stream_resampler()
        # Media may arrive before the pipeline has started: keep it (bounded) rather than lose
        # the caller's first words.
        self._queue: asyncio.Queue[tuple[str, Any]] | None = asyncio.Queue()
        transport.rtp.on_audio = lambda pcm: self._enqueue("audio", pcm)
        transport.rtp.on_dtmf = lambda digit: self._enqueue("dtmf", digit)

    def _enqueue(self, kind: str, value: Any) -> None:
        if self._queue is None:
            return
        if self._reader is None and self._queue.qsize() >= MAX_EARLY_PACKETS:
            self._queue.get_nowait()
        self._queue.put_nowait((kind, value))

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        if self._reader is None and self._queue is not None:
            self._reader = self.create_task(self._read())
        await self.set_transport_ready(frame)
        await self._sip._call_event_handler("on_client_connected", self._sip.call_id)

    async def _read(self) -> None:
        assert self._queue is not None
        while True:
            kind, value = await self._queue.get()
            if kind == "audio":
                audio = await self._resampler.resample(value, SAMPLE_RATE, self.sample_rate)
                if audio:
                    await self.push_audio_frame(InputAudioRawFrame(audio=audio, sample_rate=self.sample_rate,
                                                                   num_channels=1))
            elif kind == "dtmf" and value in _KEYPAD:
                await self.push_frame(InputDTMFFrame(button=_KEYPAD[value]))

    async def _stop_reading(self) -> None:
        self._sip.rtp.on_audio = None
        self._sip.rtp.on_dtmf = None
        self._queue = None
        if self._reader is not None:
            await self.cancel_task(self._reader)
            self._reader = None

    async def stop(self, frame: EndFrame) -> None:
        await super().stop(frame)
        await self._stop_reading()

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        await self._stop_reading()

    async def cleanup(self) -> None:
        await super().cleanup()
        await self._stop_reading()

    async def request_cancel(self, reason: str) -> None:
        """Ask the pipeline worker to stop this call's pipeline (the caller is gone)."""
        if self._reader is not None:
            await self.push_frame(CancelWorkerFrame(reason=reason), FrameDirection.UPSTREAM)


class SipOutputTransport(BaseOutputTransport):
    """Bot side of a SIP call: pipecat audio resampled to 8 kHz and paced into RTP."""

    def __init__(self, transport: "SipTransport", params: TransportParams, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self._sip = transport
        self._resampler = create_stream_resampler()

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame):
            self._sip.rtp.clear_audio()

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        rtp = self._sip.rtp
        if rtp.closed:
            return False
        audio = frame.audio
        if frame.num_channels == 2:
            import numpy as np

            audio = np.frombuffer(audio, dtype="<i2").reshape(-1, 2).mean(axis=1).astype("<i2").tobytes()
        pcm = await self._resampler.resample(audio, frame.sample_rate, SAMPLE_RATE)
        rtp.send_audio(pcm)
        lead = rtp.queued_seconds - OUTPUT_LEAD_S
        if lead > 0:  # real-time pacing comes from the RTP clock
            await asyncio.sleep(lead)
        return True

    def _supports_native_dtmf(self) -> bool:
        return self._sip.rtp.config.dtmf_payload_type is not None

    async def _write_dtmf_native(self, frame: OutputDTMFFrame | OutputDTMFUrgentFrame) -> None:
        for button in frame.buttons or []:
            self._sip.rtp.send_dtmf(str(button.value))


class SipTransport(BaseTransport):
    """pipecat transport of one SIP call.

    Events: on_client_connected(call_id), on_client_disconnected(reason).
    """

    def __init__(self, rtp: RtpSession, *, call_id: str, params: TransportParams | None = None,
                 name: str | None = None) -> None:
        super().__init__(name=name or f"SipTransport#{call_id[:12]}")
        self.rtp = rtp
        self.call_id = call_id
        self.params = params or default_params()
        self.end_reason = ""
        self._input: SipInputTransport | None = None
        self._output: SipOutputTransport | None = None
        self._register_event_handler("on_client_connected")
        self._register_event_handler("on_client_disconnected")

    def input(self) -> SipInputTransport:
        if self._input is None:
            self._input = SipInputTransport(self, self.params, name=f"{self.name}-input")
        return self._input

    def output(self) -> SipOutputTransport:
        if self._output is None:
            self._output = SipOutputTransport(self, self.params, name=f"{self.name}-output")
        return self._output

    async def on_call_ended(self, reason: str) -> None:
        """Called by the endpoint once the call is over (either side)."""
        self.end_reason = reason
        await self._call_event_handler("on_client_disconnected", reason)
        if self._input is not None:
            await self._input.request_cancel(reason)


class SipCallSession:
    """``CallSession`` of a SIP call: hang-up is BYE, transfer is REFER to the queue's agent URI."""

    def __init__(self, call: SipCall, endpoint: SipEndpoint) -> None:
        self._call = call
        self._endpoint = endpoint
        self.info = CallInfo(call_id=call.uid, channel="sip", caller=call.caller, sample_rate=SAMPLE_RATE,
                             extra={"codec": call.media.codec, "source": f"{call.source[0]}:{call.source[1]}",
                                    "sip_call_id": call.call_id})

    @property
    def ended(self) -> bool:
        return self._call.state == "ended"

    @property
    def end_reason(self) -> str | None:
        """Why the SIP call ended; None while it is up.

        The bot's hang-up reason (BYE sent), "transfer" (REFER accepted), "caller_hangup" (BYE or CANCEL
        received), "rtp_timeout"...
        """
        return self._call.end_reason or None

    async def wait_ended(self) -> str | None:
        await self._call.ended.wait()
        return self.end_reason

    def send_event(self, event: CallEvent) -> None:
        """A SIP peer takes no pipeline events (what it hears is the call)."""

    async def hangup(self, reason: str) -> None:
        await self._endpoint.hangup(self._call, reason)

    async def close(self, reason: str) -> None:
        """BYE if the call is still up once its pipeline is over (the user agent would send it anyway)."""
        if not self.ended:
            await self._endpoint.hangup(self._call, reason)

    async def transfer(self, queue: str, target: str) -> bool:
        """REFER to ``target`` (or the URI configured for ``queue``); True once the agent answered."""
        target = target or self._endpoint.settings.agent_queues.get(queue, "")
        if not target:
            log.warning("no agent URI for queue %r", queue, extra={"call_id": self.info.call_id})
            ok = False
        else:
            ok = await self._endpoint.transfer(self._call, target)
        self._endpoint.emit(CallEvent(call_id=self.info.call_id, type="transfer",
                                      data={"queue": queue, "target": target,
                                            "status": "accepted" if ok else "failed"}))
        return ok


OnCall = Callable[[SipTransport, SipCallSession], Awaitable[None]]


class SipEndpoint(SipUserAgent):
    """The SIP entry of a worker: each answered call runs ``on_call(transport, session)``.

    ``on_event`` (optional) receives the ``CallEvent`` s the SIP side itself produces ("transfer").
    """

    def __init__(self, settings: SipSettings, on_call: OnCall, *, timers: Timers | None = None,
                 on_event: Callable[[CallEvent], Any] | None = None) -> None:
        super().__init__(settings, self._answered, timers=timers)
        self.on_call = on_call
        self.on_event = on_event

    async def _answered(self, call: SipCall) -> None:
        transport = SipTransport(call.rtp, call_id=call.uid)
        session = SipCallSession(call, self)
        call.on_ended = transport.on_call_ended
        await self.on_call(transport, session)

    def emit(self, event: CallEvent) -> None:
        """Hand an event to ``on_event``; an observer that fails never breaks the call."""
        if self.on_event is None:
            return
        try:
            result = self.on_event(event)
            if asyncio.iscoroutine(result):
                self._spawn(result, "sip-event")
        except Exception:
            log.exception("event sink failed", extra={"call_id": event.call_id})

"""Wire formats of the WebSocket media endpoints, as pipecat FrameSerializers.

- ``PcmSerializer``: the plain binary protocol (16-bit little-endian mono PCM at the rate given at connect
  time; JSON text messages for control and events). See README "WebSocket protocols".
- ``SafeTwilioSerializer``: pipecat's Twilio Media Streams serializer, made to report a malformed message
  instead of raising (an exception would end the receive loop, i.e. the call).

A bad message gets one precise error event back and is dropped; the call goes on.
"""

from __future__ import annotations

import json
import logging
from typing import Callable

from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (
    AudioRawFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    KeypadEntry,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.serializers.base_serializer import FrameSerializer
from pipecat.serializers.twilio import TwilioFrameSerializer

log = logging.getLogger(__name__)

ErrorReporter = Callable[[str, str], None]  # (code, message)

DTMF_DIGITS = {k.value: k for k in KeypadEntry}


class PcmSerializer(FrameSerializer):
    """Binary PCM16 mono at ``wire_rate`` both ways; JSON text messages for control."""

    def __init__(self, wire_rate: int, *, max_bytes: int, on_error: ErrorReporter, on_control: Callable[[dict], None]):
        super().__init__()
        self.wire_rate = wire_rate
        self.max_bytes = max_bytes
        self._on_error = on_error
        self._on_control = on_control
        self._pipeline_rate = 16000
        self._in = create_stream_resampler()
        self._out = create_stream_resampler()
        self._odd: bytes = b""

    async def setup(self, setup: FrameProcessorSetup):  # type: ignore[override]  # pipecat narrows it too
        await super().setup(setup)
        self._pipeline_rate = getattr(setup, "audio_in_sample_rate", None) or self._pipeline_rate

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, AudioRawFrame):
            if frame.sample_rate == self.wire_rate:
                return frame.audio
            return await self._out.resample(frame.audio, frame.sample_rate, self.wire_rate) or None
        if isinstance(frame, InterruptionFrame):
            return json.dumps({"event": "clear"})
        if isinstance(frame, (OutputTransportMessageFrame, OutputTransportMessageUrgentFrame)):
            return json.dumps(frame.message, ensure_ascii=False)
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        try:
            if isinstance(data, bytes):
                return await self._audio(data)
            return self._control(data)
        except Exception as e:  # never let a message end the call
            self._on_error("bad_message", f"message ignored: {type(e).__name__}: {e}")
            return None

    async def _audio(self, data: bytes) -> Frame | None:
        if len(data) > self.max_bytes:
            self._on_error("frame_too_large", f"audio message of {len(data)} bytes ignored (max {self.max_bytes})")
            return None
        data = self._odd + data
        if len(data) % 2:
            data, self._odd = data[:-1], data[-1:]
        else:
            self._odd = b""
        if not data:
            return None
        audio = data if self.wire_rate == self._pipeline_rate else await self._in.resample(
            data, self.wire_rate, self._pipeline_rate)
        if not audio:
            return None
        return InputAudioRawFrame(audio=audio, sample_rate=self._pipeline_rate, num_channels=1)

    def _control(self, text: str) -> Frame | None:
        if len(text) > self.max_bytes:
            self._on_error("frame_too_large", f"text message of {len(text)} characters ignored (max {self.max_bytes})")
            return None
        try:
            msg = json.loads(text)
        except json.JSONDecodeError as e:
            self._on_error("bad_json", f"text message is not JSON ({e.msg} at character {e.pos}); ignored")
            return None
        if not isinstance(msg, dict) or not isinstance(msg.get("event"), str):
            self._on_error("bad_event", 'text message must be a JSON object with an "event" string; ignored')
            return None
        event = msg["event"]
        if event == "dtmf":
            digit = str(msg.get("digit", ""))
            if digit not in DTMF_DIGITS:
                self._on_error("bad_dtmf", f"unknown DTMF digit {digit!r} (expected 0-9, *, #); ignored")
                return None
            return InputDTMFFrame(button=DTMF_DIGITS[digit])
        if event in ("hangup", "ping"):
            self._on_control(msg)
            return None
        self._on_error("unknown_event", f"unknown event {event!r}; ignored")
        return None


class SafeTwilioSerializer(TwilioFrameSerializer):
    """Twilio Media Streams format; a malformed message is reported, never raised."""

    def __init__(self, *args, on_error: ErrorReporter, **kwargs):
        super().__init__(*args, **kwargs)
        self._on_error = on_error

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, bytes):
            self._on_error("bad_message", "binary message on the Twilio endpoint ignored (JSON text expected)")
            return None
        try:
            msg = json.loads(data)
        except json.JSONDecodeError as e:
            self._on_error("bad_json", f"message is not JSON ({e.msg}); ignored")
            return None
        if not isinstance(msg, dict):
            self._on_error("bad_event", "message is not a JSON object; ignored")
            return None
        try:
            return await super().deserialize(data)
        except Exception as e:
            self._on_error("bad_message", f"Twilio {msg.get('event')!r} message ignored: {type(e).__name__}: {e}")
            return None

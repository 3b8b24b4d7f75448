"""CallSession: the only face telephony shows to the rest of voicebot.

Every media entry (SIP/RTP, Twilio-style WebSocket, binary PCM WebSocket) ends in a pipecat transport
plus a CallSession that carries what is not audio: who called, how and why the call ended, events for
the peer, hang-up and transfer. The app and the pipeline never learn which protocol is underneath.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from voicebot.events import CallEvent


SHUTDOWN = "shutdown"  # the end reason of calls cut because their worker stops


@dataclass
class CallInfo:
    """Facts about a call known when it starts."""

    call_id: str
    channel: str  # "ws-pcm" | "ws-twilio" | "sip"
    caller: str = ""  # raw caller id (number or URI); redacted before display/storage
    sample_rate: int = 8000  # rate of the audio on the wire
    extra: dict = field(default_factory=dict)


class CallControl(Protocol):
    """What a supervisor's actions need of a live call (the monitor's control registry holds these)."""

    info: CallInfo

    async def hangup(self, reason: str) -> None:
        """End the call from the bot side; ``reason`` is recorded."""

    async def transfer(self, queue: str, target: str) -> bool:
        """Hand the caller to a human agent of ``queue``; True once accepted."""


class CallSession(CallControl, Protocol):
    """Control side of one call as its media entry gives it (audio flows through the pipecat transport)."""

    info: CallInfo

    @property
    def end_reason(self) -> str | None:
        """Why the call ended as the media side saw it ("transfer", "silence", "caller_hangup"...).

        None while the call is up (a pipeline that ends then is the bot hanging up).
        """

    async def wait_ended(self) -> str | None:
        """Return once the media side has ended the call (either party), with ``end_reason``."""

    def send_event(self, event: CallEvent) -> None:
        """Offer a pipeline event to the peer; entries whose peer takes no events ignore it. Never blocks."""

    async def hangup(self, reason: str) -> None:
        """End the call from the bot side (BYE over SIP, close over WebSocket); ``reason`` is recorded."""

    async def transfer(self, queue: str, target: str) -> bool:
        """Hand the caller to a human agent; True once the peer accepted the transfer."""

    async def close(self, reason: str) -> None:
        """The call's pipeline is over (or the worker stops): release the media side. Idempotent."""

"""CallSession: the only face telephony shows to the rest of voicebot.

Every media entry (SIP/RTP, Twilio-style WebSocket, binary PCM WebSocket) ends in a pipecat transport
plus a CallSession that carries what is not audio: who called, how to hang up, how to transfer.
The pipeline never learns which protocol is underneath.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class CallInfo:
    """Facts about a call known when it starts."""

    call_id: str
    channel: str  # "ws-pcm" | "ws-twilio" | "sip"
    caller: str = ""  # raw caller id (number or URI); redacted before display/storage
    sample_rate: int = 8000  # rate of the audio on the wire
    extra: dict = field(default_factory=dict)


class CallSession(Protocol):
    """Control side of one call (audio flows through the pipecat transport)."""

    info: CallInfo

    async def hangup(self, reason: str) -> None:
        """End the call from the bot side (BYE over SIP, close over WebSocket)."""

    async def transfer(self, queue: str, target: str) -> bool:
        """Hand the caller to a human agent; True once the peer accepted the transfer."""

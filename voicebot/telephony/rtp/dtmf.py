"""RFC 4733 telephone-event: read received digits once, and build events to send (tests, transfer tones).

A digit is sent as several packets with the same RTP timestamp (growing duration) and the end packet
repeated three times; we report each (timestamp) event once, on its first end packet, or when a
new event starts before any end packet arrived (lost end packets).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

EVENT_DIGITS = "0123456789*#ABCD"  # event codes 0-15
END_BIT = 0x80
VOLUME_MASK = 0x3F
_EVENT = struct.Struct("!BBH")


@dataclass(frozen=True)
class DtmfEvent:
    """One RFC 4733 telephone-event payload."""

    event: int
    end: bool
    volume: int
    duration: int

    @property
    def digit(self) -> str | None:
        return EVENT_DIGITS[self.event] if self.event < len(EVENT_DIGITS) else None

    @classmethod
    def parse(cls, payload: bytes) -> "DtmfEvent":
        if len(payload) < _EVENT.size:
            raise ValueError(f"telephone-event payload of {len(payload)} bytes (expected 4)")
        event, flags, duration = _EVENT.unpack_from(payload)
        return cls(event, bool(flags & END_BIT), flags & VOLUME_MASK, duration)

    def serialize(self) -> bytes:
        return _EVENT.pack(self.event, (END_BIT if self.end else 0) | (self.volume & VOLUME_MASK), self.duration)


def digit_event(digit: str) -> int:
    code = EVENT_DIGITS.find(digit.upper())
    if code < 0:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return code


class DtmfReceiver:
    """Turns a stream of telephone-event packets into digits, each reported once."""

    def __init__(self) -> None:
        self._pending: tuple[int, str] | None = None  # (timestamp, digit) seen but not reported
        self._reported: list[int] = []  # recent reported timestamps (end packets are repeated)

    def feed(self, timestamp: int, payload: bytes) -> list[str]:
        """Digits completed by this packet (usually none or one)."""
        event = DtmfEvent.parse(payload)
        digit = event.digit
        out: list[str] = []
        if timestamp in self._reported or digit is None:
            return out
        if self._pending and self._pending[0] != timestamp:  # new event, previous end was lost
            out.append(self._report(*self._pending))
        if event.end:
            out.append(self._report(timestamp, digit))
        else:
            self._pending = (timestamp, digit)
        return out

    def _report(self, timestamp: int, digit: str) -> str:
        self._pending = None
        self._reported.append(timestamp)
        del self._reported[:-16]
        return digit

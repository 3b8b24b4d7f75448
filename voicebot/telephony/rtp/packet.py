"""RTP packet (RFC 3550 section 5.1): fixed header, CSRCs, extension, padding."""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTP_VERSION = 2
RTP_HEADER_BYTES = 12
_HEADER = struct.Struct("!BBHII")


class RtpParseError(ValueError):
    """A datagram that is not an RTP version 2 packet."""


@dataclass
class RtpPacket:
    """One RTP packet (RFC 3550 fixed header, no extensions written)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()

    @classmethod
    def parse(cls, data: bytes) -> "RtpPacket":
        if len(data) < RTP_HEADER_BYTES:
            raise RtpParseError(f"{len(data)}-byte datagram is shorter than an RTP header")
        b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
        if b0 >> 6 != RTP_VERSION:
            raise RtpParseError(f"RTP version {b0 >> 6} (expected 2)")
        offset = RTP_HEADER_BYTES + 4 * (b0 & 0x0F)
        if len(data) < offset:
            raise RtpParseError("CSRC list runs past the packet")
        csrc = struct.unpack_from(f"!{b0 & 0x0F}I", data, RTP_HEADER_BYTES)
        if b0 & 0x10:  # header extension: 16-bit profile, 16-bit length in words
            if len(data) < offset + 4:
                raise RtpParseError("extension header runs past the packet")
            (words,) = struct.unpack_from("!H", data, offset + 2)
            offset += 4 + 4 * words
        end = len(data)
        if b0 & 0x20:  # padding: last byte counts padding bytes
            end -= data[-1]
        if end < offset:
            raise RtpParseError("extension or padding runs past the packet")
        return cls(b1 & 0x7F, seq, ts, ssrc, bytes(data[offset:end]), bool(b1 & 0x80), csrc)

    def serialize(self) -> bytes:
        b0 = (RTP_VERSION << 6) | len(self.csrc)
        b1 = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        head = _HEADER.pack(b0, b1, self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF, self.ssrc & 0xFFFFFFFF)
        return head + b"".join(struct.pack("!I", c) for c in self.csrc) + self.payload


def is_rtcp(data: bytes) -> bool:
    """RTCP shares a port only with rtcp-mux; its packet types 200-204 land in the PT byte (RFC 5761)."""
    return len(data) >= 2 and 200 <= data[1] <= 204

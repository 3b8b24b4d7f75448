"""A small reorder buffer for received RTP: in-order delivery, duplicates and late packets dropped.

It holds at most ``depth`` packets (20 ms each) waiting for a missing one, then gives up on the gap:
enough for reordering on a LAN or trunk, without adding latency when packets arrive in order.
"""

from __future__ import annotations

from .packet import RtpPacket

DEFAULT_DEPTH = 3
MAX_MISORDER = 100  # an older packet further back than this means the sender restarted (RFC 3550 A.1)
MAX_DROPOUT = 3000  # a jump forward larger than this too


def _seq_newer(a: int, b: int) -> bool:
    """True if sequence number a comes after b (16-bit wrap-around, RFC 3550 appendix A.1)."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


class JitterBuffer:
    """Puts RTP packets back in order, waiting at most ``depth`` packets for a missing one."""

    def __init__(self, depth: int = DEFAULT_DEPTH) -> None:
        self.depth = depth
        self._expected: int | None = None
        self._held: dict[int, RtpPacket] = {}
        self.lost = 0
        self.late = 0

    def reset(self) -> None:
        """Forget the sequence (the sender changed SSRC)."""
        self._expected = None
        self._held.clear()

    def push(self, packet: RtpPacket) -> list[RtpPacket]:
        """Packets now ready to play, in order."""
        seq = packet.sequence
        if self._expected is not None:
            back = (self._expected - seq) & 0xFFFF
            ahead = (seq - self._expected) & 0xFFFF
            if MAX_MISORDER < back < 0x8000 or MAX_DROPOUT < ahead < 0x8000:
                self.reset()  # resynchronise on the new sequence
        if self._expected is None:
            self._expected = seq
        if seq != self._expected and not _seq_newer(seq, self._expected):
            self.late += 1  # already played or skipped: too late
            return []
        if seq in self._held:
            return []
        self._held[seq] = packet
        ready: list[RtpPacket] = []
        while True:
            if self._expected in self._held:
                ready.append(self._held.pop(self._expected))
                self._expected = (self._expected + 1) & 0xFFFF
            elif len(self._held) > self.depth:  # give up on the gap: skip to the oldest held packet
                expected = self._expected
                oldest = min(self._held, key=lambda s: (s - expected) & 0xFFFF)
                self.lost += (oldest - expected) & 0xFFFF
                self._expected = oldest
            else:
                return ready

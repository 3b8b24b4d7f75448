"""One call's RTP media over UDP.

Paced 20 ms G.711 send, reorder buffer, symmetric latching, DTMF, and an inactivity timeout so a dead
peer ends the call instead of holding a slot forever.

Audio in and out is little-endian PCM16 mono at 8 kHz; resampling to the pipeline's rate happens in
the pipecat transport, not here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from . import g711
from .dtmf import DtmfReceiver
from .jitter import DEFAULT_DEPTH, JitterBuffer
from .packet import RtpPacket, RtpParseError, is_rtcp

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
FRAME_MS = 20
SAMPLES_PER_FRAME = SAMPLE_RATE * FRAME_MS // 1000  # 160
PCM_BYTES_PER_FRAME = SAMPLES_PER_FRAME * 2  # 320
MAX_CATCH_UP_S = 0.2  # beyond this lag the pacer restarts its clock instead of bursting
MAX_QUEUED_OUTPUT_S = 60.0
PREBUFFER_FRAMES = 2  # speech starts once 40 ms are queued (absorbs producer jitter)  # bound on audio waiting to be sent


@dataclass(frozen=True)
class RtpConfig:
    """The negotiated media of one call: codec, payload types, where to send."""

    codec: str  # "PCMU" | "PCMA"
    payload_type: int
    dtmf_payload_type: int | None
    remote: tuple[str, int]
    inactivity_timeout_s: float = 30.0
    jitter_depth: int = DEFAULT_DEPTH
    send_silence: bool = True  # keep the stream (and NAT bindings, latching peers) alive
    latch_cidrs: tuple[str, ...] = ()  # besides the SDP address, where the caller's RTP may come from (NAT)


class RtpSession(asyncio.DatagramProtocol):
    """Media of one call. Callbacks run on the event loop and must not block."""

    def __init__(self, config: RtpConfig, *, on_audio: Callable[[bytes], None] | None = None,
                 on_dtmf: Callable[[str], None] | None = None,
                 on_timeout: Callable[[], object] | None = None) -> None:
        self.config = config
        self.on_audio = on_audio
        self.on_dtmf = on_dtmf
        self.on_timeout = on_timeout
        self.remote = config.remote
        self.local_port = 0
        self.latched = False
        self.on_hold = False
        self.packets_sent = 0
        self.packets_received = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._jitter = JitterBuffer(config.jitter_depth)
        self._dtmf = DtmfReceiver()
        self._remote_ssrc: int | None = None
        self._out = bytearray()
        self._ssrc = secrets.randbits(32)
        self._seq = secrets.randbits(16)
        self._ts = secrets.randbits(32)
        self._talking = False
        self._starving = 0
        self._sent_any = False
        self._pacer: asyncio.Task | None = None
        self._last_rx = 0.0
        self._closed = asyncio.Event()
        self._encode = g711.ENCODERS[config.codec]
        self._silence = bytes([g711.SILENCE_BYTE[config.codec]]) * SAMPLES_PER_FRAME
        self._latch_networks = [ipaddress.ip_network(c, strict=False) for c in config.latch_cidrs]
        self.dropped_foreign = 0

    # -- life cycle --------------------------------------------------------------------------
    async def open(self, host: str, port_min: int, port_max: int) -> int:
        """Bind an even port in [port_min, port_max]; return it."""
        loop = asyncio.get_running_loop()
        ports = list(range(port_min + (port_min & 1), port_max + 1, 2))
        start = random.randrange(len(ports)) if ports else 0
        for port in ports[start:] + ports[:start]:
            try:
                await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
            except OSError:
                continue
            self.local_port = port
            return port
        raise OSError(f"no free RTP port in {port_min}-{port_max}")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def start(self) -> None:
        """Start sending (paced) and the inactivity clock."""
        if self._pacer is None:
            self._last_rx = asyncio.get_running_loop().time()
            self._pacer = asyncio.get_running_loop().create_task(self._pace(), name=f"rtp-pacer-{self.local_port}")

    async def close(self) -> None:
        self._closed.set()
        if self._pacer and self._pacer is not asyncio.current_task():
            self._pacer.cancel()
            try:
                await self._pacer
            except asyncio.CancelledError:
                pass
        if self._transport:
            self._transport.close()
            self._transport = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # -- sending -----------------------------------------------------------------------------
    def send_audio(self, pcm16: bytes) -> None:
        """Queue 8 kHz PCM16 for paced sending."""
        if len(self._out) < MAX_QUEUED_OUTPUT_S * SAMPLE_RATE * 2:
            self._out.extend(pcm16)

    def clear_audio(self) -> None:
        """Drop queued audio (barge-in)."""
        self._out.clear()

    @property
    def queued_seconds(self) -> float:
        return len(self._out) / (SAMPLE_RATE * 2)

    def set_remote(self, host: str, port: int) -> None:
        self.remote = (host, port)
        self.latched = False

    def _may_latch(self, host: str) -> bool:
        """Only the address the SDP named (or a configured NAT network) may become the media peer."""
        if host == self.remote[0]:
            return True
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        return any(ip in net for net in self._latch_networks if net.version == ip.version)

    def send_dtmf(self, digit: str, duration_ms: int = 100) -> None:
        """Send one RFC 4733 event now (used by tests and to signal agents)."""
        from .dtmf import DtmfEvent, digit_event

        if self.config.dtmf_payload_type is None:
            raise RuntimeError("the peer did not negotiate telephone-event")
        code = digit_event(digit)
        steps = max(1, duration_ms // FRAME_MS)
        ts = self._ts
        for i in range(1, steps + 1):
            end = i == steps
            payload = DtmfEvent(code, end, 10, i * SAMPLES_PER_FRAME).serialize()
            for _ in range(3 if end else 1):
                self._send_packet(self.config.dtmf_payload_type, ts, payload, marker=i == 1)
        self._ts = (self._ts + steps * SAMPLES_PER_FRAME) & 0xFFFFFFFF

    def _send_packet(self, pt: int, ts: int, payload: bytes, marker: bool = False) -> None:
        if self._transport is None:
            return
        packet = RtpPacket(pt, self._seq, ts, self._ssrc, payload, marker)
        self._seq = (self._seq + 1) & 0xFFFF
        self._transport.sendto(packet.serialize(), self.remote)
        self.packets_sent += 1
        self._sent_any = True

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        frame_s = FRAME_MS / 1000
        next_at = loop.time()
        try:
            while not self._closed.is_set():
                self._send_frame()
                if (self.config.inactivity_timeout_s > 0 and not self.on_hold
                        and loop.time() - self._last_rx > self.config.inactivity_timeout_s):
                    log.info("rtp inactivity timeout", extra={"rtp_port": self.local_port})
                    self._closed.set()
                    if self.on_timeout:
                        self.on_timeout()
                    return
                next_at += frame_s
                delay = next_at - loop.time()
                if delay < -MAX_CATCH_UP_S:
                    next_at = loop.time()
                    delay = 0
                await asyncio.sleep(max(0.0, delay))
        except asyncio.CancelledError:
            pass

    def _send_frame(self) -> None:
        """One 20 ms tick: speech if enough is queued, else silence (or nothing)."""
        if self.on_hold:
            return
        queued = len(self._out)
        if not self._talking and queued:
            self._starving += 1  # wait for a small prebuffer so jitter upstream does not cut speech
            ready = queued >= PREBUFFER_FRAMES * PCM_BYTES_PER_FRAME or self._starving > PREBUFFER_FRAMES
        else:
            ready = queued >= PCM_BYTES_PER_FRAME or (queued > 0 and self._starving > PREBUFFER_FRAMES)
        if queued and ready:
            chunk = bytes(self._out[:PCM_BYTES_PER_FRAME])
            del self._out[:PCM_BYTES_PER_FRAME]
            if len(chunk) < PCM_BYTES_PER_FRAME:  # end of an utterance
                chunk += b"\x00" * (PCM_BYTES_PER_FRAME - len(chunk))
            self._send_packet(self.config.payload_type, self._ts, self._encode(chunk),
                              marker=not self._sent_any or (not self._talking and not self.config.send_silence))
            self._talking = True
            self._starving = 0
        else:
            if self._talking and queued:
                self._starving += 1  # a partial frame: give the producer a tick before padding it
            elif self._talking:
                self._talking = False  # underrun: prebuffer again before the next speech
                self._starving = 0
            if self.config.send_silence:
                self._send_packet(self.config.payload_type, self._ts, self._silence, marker=not self._sent_any)
        self._ts = (self._ts + SAMPLES_PER_FRAME) & 0xFFFFFFFF

    # -- receiving ---------------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if is_rtcp(data):
            return
        try:
            packet = RtpPacket.parse(data)
        except RtpParseError:
            return
        pt = packet.payload_type
        if pt not in (self.config.payload_type, self.config.dtmf_payload_type, 0, 8):
            return
        addr = (addr[0], addr[1])
        if addr != self.remote:
            if self.latched or not self._may_latch(addr[0]):
                self.dropped_foreign += 1
                return  # a third party (spoofing or spraying RTP): neither heard nor answered
            log.debug("rtp latched", extra={"rtp_port": self.local_port})
            self.remote = addr
        self.latched = True
        self._last_rx = asyncio.get_running_loop().time()
        self.packets_received += 1
        if packet.ssrc != self._remote_ssrc:
            self._remote_ssrc = packet.ssrc
            self._jitter.reset()
        for ready in self._jitter.push(packet):  # DTMF shares the sequence space with audio
            if ready.payload_type == self.config.dtmf_payload_type:
                try:
                    digits = self._dtmf.feed(ready.timestamp, ready.payload)
                except ValueError:
                    continue
                for digit in digits:
                    if self.on_dtmf:
                        self.on_dtmf(digit)
            elif self.on_audio and ready.payload:
                decode = g711.DECODERS["PCMA" if ready.payload_type == 8 else "PCMU"]
                self.on_audio(decode(ready.payload))

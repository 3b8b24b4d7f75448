"""A minimal SIP caller (UAC) for benchmarks: INVITE with a PCMU offer, ACK, RTP in real time, BYE.

It plays WAV turns like the WebSocket caller and measures the same thing at the wire: end of caller
speech in the sent RTP → first non-silent RTP audio from the bot; and call set-up time (INVITE → 200).
It waits a fixed time for each answer (SIP carries no turn events). Built on voicebot's own SIP/RTP
objects; for tests and benchmarks, not for production traffic.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voicebot.telephony.caller import dbfs, read_wav, speech_end_s
from voicebot.telephony.rtp.g711 import ulaw_decode, ulaw_encode
from voicebot.telephony.rtp.packet import RtpPacket
from voicebot.telephony.sip.message import SipMessage, new_branch, new_tag, parse_message
from voicebot.telephony.sip.sdp import parse_sdp

PCMU = 0
FRAME = 160  # 20 ms at 8 kHz


@dataclass
class SipCallResult:
    """What the SIP test caller measured: set-up time and wire latency per turn."""

    setup_ms: float | None = None
    wire_latency_ms: list[float | None] = field(default_factory=list)
    greeting_heard: bool = False
    status: int | None = None


class _Udp(asyncio.DatagramProtocol):
    def __init__(self):
        self.queue: asyncio.Queue = asyncio.Queue()

    def datagram_received(self, data, addr):
        self.queue.put_nowait((time.monotonic(), data, addr))


class _Leg:
    """One outgoing call's sockets and dialog identifiers (Call-ID, From tag), with its request builder."""

    def __init__(self, host: str, port: int, sip_t: asyncio.DatagramTransport, rtp_t: asyncio.DatagramTransport):
        self.host, self.port, self.sip_t, self.rtp_t = host, port, sip_t, rtp_t
        self.lport = sip_t.get_extra_info("sockname")[1]
        self.call_id, self.tag = uuid.uuid4().hex, new_tag()
        self.target = f"sip:bot@{host}:{port}"
        self.seq, self.ts, self.ssrc = random.randint(0, 1000), random.randint(0, 10000), random.getrandbits(32)

    def offer(self) -> bytes:
        rport_local = self.rtp_t.get_extra_info("sockname")[1]
        return (f"v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=bench\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=audio {rport_local} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
                f"a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n").encode()

    def send_request(self, method: str, cseq: int, to: str, body: bytes = b"") -> None:
        m = SipMessage(method=method, uri=self.target)
        m.add("Via", f"SIP/2.0/UDP 127.0.0.1:{self.lport};branch={new_branch()};rport")
        m.add("Max-Forwards", "70")
        m.add("From", f"<sip:bench@127.0.0.1:{self.lport}>;tag={self.tag}")
        m.add("To", to)
        m.add("Call-ID", self.call_id)
        m.add("CSeq", f"{cseq} {method}")
        m.add("Contact", f"<sip:bench@127.0.0.1:{self.lport}>")
        if body:
            m.add("Content-Type", "application/sdp")
        m.add("Content-Length", str(len(body)))
        m.body = body
        self.sip_t.sendto(m.serialize(), (self.host, self.port))

    async def send_audio(self, samples: np.ndarray, remote: tuple[str, int]) -> float:
        """Send ``samples`` (8 kHz PCM16) as 20 ms PCMU packets in real time; returns when sending began."""
        start = t_next = time.monotonic()
        for i in range(0, len(samples), FRAME):
            chunk = np.pad(samples[i:i + FRAME], (0, max(0, FRAME - len(samples[i:i + FRAME]))))
            self.rtp_t.sendto(RtpPacket(PCMU, self.seq & 0xFFFF, self.ts & 0xFFFFFFFF, self.ssrc,
                                        ulaw_encode(chunk.astype(np.int16).tobytes())).serialize(), remote)
            self.seq, self.ts = self.seq + 1, self.ts + FRAME
            t_next += 0.02
            await asyncio.sleep(max(0.0, t_next - time.monotonic()))
        return start


async def _final_response(sip: _Udp) -> SipMessage:
    while True:
        _, data, _ = await asyncio.wait_for(sip.queue.get(), 10)
        resp = parse_message(data)
        if resp.status and resp.status >= 200:
            return resp


@dataclass
class _Listener:
    """Marks, in the bot's RTP, the first sound after the end of each caller turn (the wire latency)."""

    result: SipCallResult
    last_sound: float = 0.0
    turn: int | None = None
    speech_end: float = 0.0

    async def run(self, rtp: _Udp) -> None:
        while True:
            t, data, _ = await rtp.queue.get()
            try:
                pkt = RtpPacket.parse(data)
            except ValueError:
                continue
            if pkt.payload_type == PCMU and dbfs(ulaw_decode(pkt.payload)) > -45:
                self.last_sound = t
                turn = self.turn
                if turn is not None and self.speech_end and t > self.speech_end \
                        and self.result.wire_latency_ms[turn] is None:
                    self.result.wire_latency_ms[turn] = round((t - self.speech_end) * 1000, 1)


async def sip_call(host: str, port: int, wavs: list[Path], *, answer_wait_s: float = 12.0,
                   greeting_wait_s: float = 10.0) -> SipCallResult:
    """Call ``sip:bot@host:port``, listen to the greeting, play each WAV turn and wait for its answer, BYE."""
    loop = asyncio.get_running_loop()
    sip_t, sip = await loop.create_datagram_endpoint(_Udp, local_addr=("127.0.0.1", 0))
    rtp_t, rtp = await loop.create_datagram_endpoint(_Udp, local_addr=("127.0.0.1", 0))
    leg = _Leg(host, port, sip_t, rtp_t)
    result = SipCallResult()
    try:
        t0 = time.monotonic()
        leg.send_request("INVITE", 1, f"<{leg.target}>", leg.offer())
        ok = await _final_response(sip)
        result.status = ok.status
        if ok.status != 200:
            return result
        result.setup_ms = round((time.monotonic() - t0) * 1000, 2)
        to_header = ok.get("To") or f"<{leg.target}>"
        leg.send_request("ACK", 1, to_header)
        answer = parse_sdp(ok.body)
        media = answer.audio()
        if media is None:
            raise ValueError("the 200 OK carries no audio stream")
        remote = (media.connection or answer.connection or host, media.port)
        listener = _Listener(result)
        receiver = asyncio.create_task(listener.run(rtp))
        await leg.send_audio(np.zeros(int(8000 * greeting_wait_s), dtype=np.int16), remote)
        result.greeting_heard = listener.last_sound > 0
        for i, wav in enumerate(wavs):
            samples = read_wav(wav, 8000)
            result.wire_latency_ms.append(None)
            listener.turn, listener.speech_end = i, 0.0
            start = await leg.send_audio(samples, remote)
            listener.speech_end = start + speech_end_s(samples, 8000)
            await leg.send_audio(np.zeros(int(8000 * answer_wait_s), dtype=np.int16), remote)
        receiver.cancel()
        leg.send_request("BYE", 2, to_header)
        await asyncio.sleep(0.2)
        return result
    finally:
        sip_t.close()
        rtp_t.close()

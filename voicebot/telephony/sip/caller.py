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
    setup_ms: float | None = None
    wire_latency_ms: list[float | None] = field(default_factory=list)
    greeting_heard: bool = False
    status: int | None = None


class _Udp(asyncio.DatagramProtocol):
    def __init__(self):
        self.queue: asyncio.Queue = asyncio.Queue()

    def datagram_received(self, data, addr):
        self.queue.put_nowait((time.monotonic(), data, addr))


async def sip_call(host: str, port: int, wavs: list[Path], *, answer_wait_s: float = 12.0,
                   greeting_wait_s: float = 10.0) -> SipCallResult:
    loop = asyncio.get_running_loop()
    sip_t, sip = await loop.create_datagram_endpoint(_Udp, local_addr=("127.0.0.1", 0))
    rtp_t, rtp = await loop.create_datagram_endpoint(_Udp, local_addr=("127.0.0.1", 0))
    lport, rport_local = sip_t.get_extra_info("sockname")[1], rtp_t.get_extra_info("sockname")[1]
    call_id, tag = uuid.uuid4().hex, new_tag()
    target = f"sip:bot@{host}:{port}"
    result = SipCallResult()
    sdp = (f"v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=bench\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           f"m=audio {rport_local} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
           f"a=ptime:20\r\na=sendrecv\r\n").encode()

    def request(method: str, cseq: int, to: str, body: bytes = b"") -> SipMessage:
        m = SipMessage(method=method, uri=target)
        m.add("Via", f"SIP/2.0/UDP 127.0.0.1:{lport};branch={new_branch()};rport")
        m.add("Max-Forwards", "70")
        m.add("From", f"<sip:bench@127.0.0.1:{lport}>;tag={tag}")
        m.add("To", to)
        m.add("Call-ID", call_id)
        m.add("CSeq", f"{cseq} {method}")
        m.add("Contact", f"<sip:bench@127.0.0.1:{lport}>")
        if body:
            m.add("Content-Type", "application/sdp")
        m.add("Content-Length", str(len(body)))
        m.body = body
        return m

    try:
        t0 = time.monotonic()
        sip_t.sendto(request("INVITE", 1, f"<{target}>", sdp).serialize(), (host, port))
        ok = None
        while ok is None:
            _, data, _ = await asyncio.wait_for(sip.queue.get(), 10)
            resp = parse_message(data)
            if resp.status and resp.status >= 200:
                result.status = resp.status
                ok = resp
        if ok.status != 200:
            return result
        result.setup_ms = round((time.monotonic() - t0) * 1000, 2)
        to_header = ok.get("To") or f"<{target}>"
        sip_t.sendto(request("ACK", 1, to_header).serialize(), (host, port))
        answer = parse_sdp(ok.body)
        media = answer.audio()
        remote = (media.connection or answer.connection or host, media.port)

        sound = {"last": 0.0}

        async def receive():
            while True:
                t, data, _ = await rtp.queue.get()
                try:
                    pkt = RtpPacket.parse(data)
                except ValueError:
                    continue
                if pkt.payload_type == PCMU and dbfs(ulaw_decode(pkt.payload)) > -45:
                    sound["last"] = t
                    if pending["turn"] is not None and pending["end"] and t > pending["end"] \
                            and result.wire_latency_ms[pending["turn"]] is None:
                        result.wire_latency_ms[pending["turn"]] = round((t - pending["end"]) * 1000, 1)

        pending = {"turn": None, "end": 0.0}
        receiver = asyncio.create_task(receive())
        seq, ts, ssrc = random.randint(0, 1000), random.randint(0, 10000), random.getrandbits(32)

        async def send(samples: np.ndarray) -> float:
            nonlocal seq, ts
            start = t_next = time.monotonic()
            for i in range(0, len(samples), FRAME):
                chunk = np.pad(samples[i:i + FRAME], (0, max(0, FRAME - len(samples[i:i + FRAME]))))
                rtp_t.sendto(RtpPacket(PCMU, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc,
                                       ulaw_encode(chunk.astype(np.int16).tobytes())).serialize(), remote)
                seq, ts = seq + 1, ts + FRAME
                t_next += 0.02
                await asyncio.sleep(max(0.0, t_next - time.monotonic()))
            return start

        await send(np.zeros(int(8000 * greeting_wait_s), dtype=np.int16))
        result.greeting_heard = sound["last"] > 0
        for i, wav in enumerate(wavs):
            samples = read_wav(wav, 8000)
            result.wire_latency_ms.append(None)
            pending["turn"], pending["end"] = i, 0.0
            start = await send(samples)
            pending["end"] = start + speech_end_s(samples, 8000)
            await send(np.zeros(int(8000 * answer_wait_s), dtype=np.int16))
        receiver.cancel()
        sip_t.sendto(request("BYE", 2, to_header).serialize(), (host, port))
        await asyncio.sleep(0.2)
        return result
    finally:
        sip_t.close()
        rtp_t.close()

"""Telephony benchmark: call setup time (INVITE -> 200 OK) and the CPU cost of the SIP/RTP layer alone.

- Setup: a scripted UAC on 127.0.0.1 places calls one after another (INVITE, 200, ACK, BYE) and
  times INVITE -> 200 OK; p50/p95 printed.
- Load: sipp places N concurrent calls that each play sipp's 7 s G.711 A-law clip while the bot
  replays a French clip through the real pipecat transport (resampling, pacing, jitter buffer), no
  models in the loop. CPU seconds of this process per wall second give the cores used, hence calls
  per core.

    PYTHONPATH=. .venv/bin/python benchmarks/sip_bench.py --setup-calls 50 --concurrent 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from telephony_bots import BotFactory  # noqa: E402  (test-only bots: never in the production path)
from telephony_peers import free_port_range, free_udp_port, run_sipp, sipp_workdir, speech_clip_8k  # noqa: E402

from voicebot.telephony.settings import SipSettings  # noqa: E402
from voicebot.telephony.sip_transport import SipEndpoint  # noqa: E402
from voicebot.telephony.sip.message import NameAddr, parse_message  # noqa: E402


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


class _Uac(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.inbox: asyncio.Queue = asyncio.Queue()

    def datagram_received(self, data, addr) -> None:
        self.inbox.put_nowait((time.perf_counter(), parse_message(data)))


async def setup_times(ep_port: int, calls: int) -> list[float]:
    loop = asyncio.get_running_loop()
    transport, uac = await loop.create_datagram_endpoint(_Uac, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 49170 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
    times = []
    for i in range(calls):
        call_id = secrets.token_hex(8)
        head = (f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
                f"From: <sip:bench@127.0.0.1>;tag=b{i}\r\nCall-ID: {call_id}\r\nMax-Forwards: 70\r\n")
        invite = (f"INVITE sip:bot@127.0.0.1:{ep_port} SIP/2.0\r\n{head}To: <sip:bot@127.0.0.1>\r\n"
                  f"CSeq: 1 INVITE\r\nContact: <sip:bench@127.0.0.1:{port}>\r\nContent-Type: application/sdp\r\n"
                  f"Content-Length: {len(sdp)}\r\n\r\n{sdp}")
        t0 = time.perf_counter()
        transport.sendto(invite.encode(), ("127.0.0.1", ep_port))
        while True:
            t, msg = await asyncio.wait_for(uac.inbox.get(), 5)
            if msg.status == 200 and msg.call_id == call_id:
                break
        times.append((t - t0) * 1000)
        to = msg.get("To")
        for method, cseq in (("ACK", 1), ("BYE", 2)):
            req = (f"{method} sip:voicebot@127.0.0.1:{ep_port} SIP/2.0\r\n"
                   f"{head.replace('branch=z9hG4bK', 'branch=z9hG4bK' + method)}To: {to}\r\nCSeq: {cseq} {method}\r\n"
                   f"Content-Length: 0\r\n\r\n")
            transport.sendto(req.encode(), ("127.0.0.1", ep_port))
        while True:  # the BYE's 200
            _, msg = await asyncio.wait_for(uac.inbox.get(), 5)
            if msg.status == 200 and msg.cseq[1] == "BYE":
                break
        assert NameAddr.parse(to).tag
    transport.close()
    return times


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def load(concurrent: int, tmp: Path) -> dict:
    clip = speech_clip_8k(tmp, "001.wav")
    factory = BotFactory("replay", sample_rate=16000, replay_wav=str(clip))
    rtp = free_port_range(4 * concurrent + 10)
    ep = SipEndpoint(SipSettings(port=free_udp_port(), rtp_port_min=rtp[0], rtp_port_max=rtp[1],
                                 max_calls=concurrent + 5, rate_limit_per_s=0), factory.on_call)
    await ep.start()
    work = sipp_workdir(tmp)
    sipp = asyncio.create_task(run_sipp(["-sn", "uac_pcap", "-i", "127.0.0.1", "-p", str(free_udp_port()),
                                         "-m", str(concurrent), "-r", str(concurrent), "-l", str(concurrent),
                                         "-mp", str(free_port_range(4 * concurrent + 4)[0]),
                                         f"127.0.0.1:{ep.port}"], work, timeout=120))
    for _ in range(200):  # wait until every call is up
        if len(ep.calls) >= concurrent:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    c0, w0 = cpu_seconds(), time.perf_counter()
    sent0 = sum(c.rtp.packets_sent for c in ep.calls.values())
    recv0 = sum(c.rtp.packets_received for c in ep.calls.values())
    await asyncio.sleep(5.0)  # steady state: every call sending and receiving audio
    c1, w1 = cpu_seconds(), time.perf_counter()
    sent = sum(c.rtp.packets_sent for c in ep.calls.values()) - sent0
    recv = sum(c.rtp.packets_received for c in ep.calls.values()) - recv0
    active = len(ep.calls)
    result = await sipp
    await ep.stop()
    cores = (c1 - c0) / (w1 - w0)
    return {"concurrent_calls": active, "cpu_cores_used": round(cores, 3),
            "calls_per_core": round(active / cores, 1) if cores > 0 else None,
            "rtp_packets_sent_per_s": round(sent / (w1 - w0)), "rtp_packets_received_per_s": round(recv / (w1 - w0)),
            "sipp_rc": result.rc}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup-calls", type=int, default=50)
    parser.add_argument("--concurrent", type=int, default=10)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    from loguru import logger

    logger.remove()
    results: dict = {"machine": f"{platform.node()} ({os.cpu_count()} CPUs)", "python": platform.python_version()}
    factory = BotFactory("echo")
    ep = SipEndpoint(SipSettings(port=free_udp_port(), rate_limit_per_s=0), factory.on_call)
    await ep.start()
    times = await setup_times(ep.port, args.setup_calls)
    await ep.stop()
    results["setup_ms"] = {"n": len(times), "p50": round(pct(times, 50), 2), "p95": round(pct(times, 95), 2),
                           "mean": round(statistics.mean(times), 2)}
    print(f"call setup INVITE -> 200 OK ({len(times)} calls): p50 {results['setup_ms']['p50']} ms, "
          f"p95 {results['setup_ms']['p95']} ms")
    with tempfile.TemporaryDirectory() as tmp:
        results["load"] = await load(args.concurrent, Path(tmp))
    lo = results["load"]
    print(f"telephony CPU with {lo['concurrent_calls']} concurrent calls (bot replays audio, no models): "
          f"{lo['cpu_cores_used']} cores -> {lo['calls_per_core']} calls per core "
          f"({lo['rtp_packets_sent_per_s']} RTP packets/s out, {lo['rtp_packets_received_per_s']}/s in)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

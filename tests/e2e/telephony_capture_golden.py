"""Capture golden SIP messages and RTP packets from real peers into tests/golden/{sip,rtp}/.

Run by hand when the peers change: ``python tests/e2e/telephony_capture_golden.py``.
Each file is the exact datagram the bot received, named <peer>-<what>.<sip|rtp>.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from telephony_bots import BotFactory  # noqa: E402
from telephony_peers import (baresip_home, free_port_range, free_udp_port, kamailio,  # noqa: E402
                             run_baresip, run_sipp, sipp_args, sipp_workdir, speech_clip_8k)

from voicebot.telephony.rtp.session import RtpSession  # noqa: E402
from voicebot.telephony.settings import SipSettings  # noqa: E402
from voicebot.telephony.sip_transport import SipEndpoint  # noqa: E402

GOLDEN = HERE.parent / "golden"


class Capture:
    def __init__(self) -> None:
        self.peer = ""
        self.sip: dict[str, bytes] = {}
        self.rtp: dict[str, bytes] = {}

    def sip_name(self, data: bytes) -> str:
        first = data.split(b"\r\n", 1)[0].decode(errors="replace")
        what = first.split(" ")[1] if first.startswith("SIP/2.0") else first.split(" ")[0]
        return f"{self.peer}-{what.lower()}"

    def rtp_name(self, data: bytes) -> str | None:
        pt = data[1] & 0x7F
        kind = {0: "pcmu", 8: "pcma", 101: "telephone-event"}.get(pt)
        return f"{self.peer}-{kind}" if kind else None


async def main() -> None:
    cap = Capture()
    orig_sip = SipEndpoint.datagram_received
    orig_rtp = RtpSession.datagram_received

    def sip_hook(self, data, addr):
        cap.sip.setdefault(cap.sip_name(data), data)
        return orig_sip(self, data, addr)

    def rtp_hook(self, data, addr):
        name = cap.rtp_name(data)
        if name:
            if name.endswith("telephone-event") and data[13] & 0x80:
                name += "-end"
            cap.rtp.setdefault(name, data)
        return orig_rtp(self, data, addr)

    SipEndpoint.datagram_received = sip_hook
    RtpSession.datagram_received = rtp_hook
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        work = sipp_workdir(tmp_path)
        for host in ("127.0.0.1", "::1"):
            rtp = free_port_range()
            factory = BotFactory("echo", hangup_after_s=None if host == "::1" else 9.5)
            ep = SipEndpoint(SipSettings(host=host, port=free_udp_port(), rtp_port_min=rtp[0], rtp_port_max=rtp[1],
                                         allowed_cidrs=["127.0.0.0/8", "::1/128"]), factory.on_call)
            await ep.start()
            if host == "::1":
                cap.peer = "sipp-ipv6"
                r = await run_sipp(["-sf", str(HERE / "sipp" / "compact_v6.xml"), "-i", "::1", "-p",
                                    str(free_udp_port()), "-m", "1", f"[::1]:{ep.port}"], work)
                print("sipp v6", r.rc)
            else:
                cap.peer = "sipp"
                r = await run_sipp(sipp_args("pcma_dtmf", free_udp_port(), f"127.0.0.1:{ep.port}", "-mp",
                                             str(free_port_range(8)[0])), work)
                print("sipp", r.rc)
                cap.peer = "baresip"
                clip = speech_clip_8k(tmp_path, "001.wav", pad_s=2)
                home = baresip_home(tmp_path, clip, free_udp_port(), free_port_range(20))
                await run_baresip(home, [(0.3, f"/dial sip:bot@127.0.0.1:{ep.port}")], quit_after_s=5)
            await ep.stop()
    SipEndpoint.datagram_received = orig_sip
    for name, data in cap.sip.items():
        (GOLDEN / "sip" / f"{name}.sip").write_bytes(data)
    for name, data in cap.rtp.items():
        (GOLDEN / "rtp" / f"{name}.rtp").write_bytes(data)
    print(sorted(cap.sip), sorted(cap.rtp))


async def capture_kamailio() -> None:
    """The INVITE as a worker behind kamailio receives it: two Via, Record-Route; and the OPTIONS probe."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        got: dict[str, bytes] = {}
        orig = SipEndpoint.datagram_received

        def hook(self, data, addr):
            first = data.split(b" ", 1)[0].decode(errors="replace").lower()
            got.setdefault(first, data)
            return orig(self, data, addr)

        SipEndpoint.datagram_received = hook
        rtp = free_port_range()
        factory = BotFactory("echo")
        ep = SipEndpoint(SipSettings(port=free_udp_port(), rtp_port_min=rtp[0], rtp_port_max=rtp[1]), factory.on_call)
        await ep.start()
        lb = free_udp_port()
        folded = 'append_hf("Subject: routed by the\\r\\n  load balancer\\r\\n");'
        async with kamailio(tmp_path, lb, [ep.port], before_relay=folded):
            await asyncio.sleep(5.5)  # first OPTIONS probe
            r = await run_sipp(sipp_args("uac_via_proxy", free_udp_port(), f"127.0.0.1:{lb}"), tmp_path)
            print("kamailio", r.rc)
        await ep.stop()
        SipEndpoint.datagram_received = orig
        for name in ("invite", "options", "bye"):
            if name in got:
                (GOLDEN / "sip" / f"kamailio-{name}.sip").write_bytes(got[name])
        print(sorted(got))


if __name__ == "__main__":
    asyncio.run(main())
    asyncio.run(capture_kamailio())

"""Test support for the attack suite (tests/security/): a scripted SIP peer on real UDP sockets, a SIP
endpoint on a free port, a listener that must stay silent (the "foreign" address an attacker names)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets

from voicebot.telephony.settings import SipSettings
from voicebot.telephony.sip_transport import SipEndpoint
from voicebot.telephony.sip.message import SipMessage, SipParseError, parse_message
from voicebot.telephony.sip.transaction import Timers

SDP_TEMPLATE = ("v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
                "m=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")


class Peer(asyncio.DatagramProtocol):
    """A scripted SIP peer (or a silent bystander): keeps every datagram it receives, parsed when it can."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[SipMessage] = asyncio.Queue()
        self.raw: list[tuple[bytes, tuple]] = []
        self._seen = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.host = ""
        self.port = 0

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.host, self.port = transport.get_extra_info("sockname")[:2]

    def datagram_received(self, data, addr) -> None:
        self.raw.append((data, addr))
        with contextlib.suppress(SipParseError):
            self.inbox.put_nowait(parse_message(data))

    async def recv(self, timeout: float = 2.0, status: int | None = None, method: str | None = None,
                   call_id: str | None = None) -> SipMessage:
        """The next message matching (others, e.g. 200 retransmissions of other calls, are skipped)."""
        while True:
            msg = await asyncio.wait_for(self.inbox.get(), timeout)
            if ((status is None or msg.status == status) and (method is None or msg.method == method)
                    and (call_id is None or msg.call_id == call_id)):
                return msg

    async def statuses(self, wait_s: float) -> list[int]:
        """Status codes of every response received since the last call, read from the raw status line
        (a response to a broken request may not parse), after waiting wait_s; drains the inbox."""
        await asyncio.sleep(wait_s)
        out = [int(m.group(1)) for data, _ in self.raw[self._seen:]
               if (m := re.match(rb"SIP/2\.0 (\d{3}) ", data))]
        self._seen = len(self.raw)
        while not self.inbox.empty():
            self.inbox.get_nowait()
        return out

    def send(self, data: str | bytes, port: int, host: str = "127.0.0.1") -> None:
        assert self.transport is not None
        self.transport.sendto(data.encode() if isinstance(data, str) else data, (host, port))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_peer(host: str = "127.0.0.1") -> Peer:
    _, peer = await asyncio.get_running_loop().create_datagram_endpoint(Peer, local_addr=(host, 0))
    return peer


def invite(peer: Peer, ep_port: int, call_id: str, branch: str | None, *, cseq: int = 1, via_host: str | None = None,
           via_params: str = "", sdp_host: str = "127.0.0.1", sdp_port: int = 49170, from_tag: str = "ct",
           contact_host: str | None = None) -> str:
    """An INVITE from ``peer``; ``branch=None`` gives an RFC 2543 Via without a branch."""
    sdp = SDP_TEMPLATE.format(host=sdp_host, port=sdp_port)
    branch_param = f";branch={branch}" if branch is not None else ""
    return (f"INVITE sip:bot@127.0.0.1:{ep_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {via_host or peer.host}:{peer.port}{branch_param}{via_params}\r\n"
            f"From: <sip:caller@127.0.0.1>;tag={from_tag}\r\nTo: <sip:bot@127.0.0.1:{ep_port}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\n"
            f"Contact: <sip:caller@{contact_host or peer.host}:{peer.port}>\r\nMax-Forwards: 70\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}")


def request(method: str, peer: Peer, ep_port: int, call_id: str, *, cseq: int = 1, branch: str | None = "",
            to_tag: str = "", via_host: str | None = None, via_params: str = "", from_tag: str = "ct",
            uri: str | None = None) -> str:
    """A request without body (OPTIONS, BYE, ACK, CANCEL); ``branch=""`` picks a fresh RFC 3261 branch."""
    if branch == "":
        branch = "z9hG4bK" + secrets.token_hex(6)
    branch_param = f";branch={branch}" if branch is not None else ""
    to = f"<sip:bot@127.0.0.1:{ep_port}>" + (f";tag={to_tag}" if to_tag else "")
    return (f"{method} {uri or f'sip:bot@127.0.0.1:{ep_port}'} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {via_host or peer.host}:{peer.port}{branch_param}{via_params}\r\n"
            f"From: <sip:caller@127.0.0.1>;tag={from_tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
            f"CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


@contextlib.asynccontextmanager
async def sip_endpoint(timers: Timers | None = None, **overrides):
    """A real SipEndpoint on a free UDP port whose calls just wait for their end (the media path is the
    endpoint's own RTP session); yields (endpoint, sessions started)."""
    sessions: list = []

    async def on_call(transport, session) -> None:
        sessions.append(session)
        await session.wait_ended()

    settings = SipSettings(port=0, rtp_port_min=46000, rtp_port_max=46999, **overrides)
    ep = SipEndpoint(settings, on_call, timers=timers or Timers(t1=0.05, t2=0.4, t4=0.2))
    await ep.start()
    try:
        yield ep, sessions
    finally:
        await ep.stop(timeout_s=1.0)


class ErrorRecords(logging.Handler):
    """Collects ERROR records and exceptions logged anywhere: the attack suite asserts there are none."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> "ErrorRecords":
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger().removeHandler(self)

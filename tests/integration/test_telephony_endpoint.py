"""The SIP endpoint over real UDP sockets, driven by a scripted client: retransmissions, timers,
re-INVITE, digest, rport, unknown dialogs and methods, RTP inactivity."""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import pytest

from voicebot.telephony.rtp.packet import RtpPacket
from voicebot.telephony.settings import SipSettings
from voicebot.telephony.sip.auth import expected_response, parse_auth_header
from voicebot.telephony.sip_transport import SipEndpoint
from voicebot.telephony.sip.message import NameAddr, SipMessage, Via, parse_message
from voicebot.telephony.sip.transaction import Timers


class Client(asyncio.DatagramProtocol):
    """A scripted UAC: sends raw requests, collects every datagram it receives."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[SipMessage] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data, addr) -> None:
        self.inbox.put_nowait(parse_message(data))

    async def recv(self, timeout: float = 2.0, status: int | None = None, method: str | None = None) -> SipMessage:
        while True:
            msg = await asyncio.wait_for(self.inbox.get(), timeout)
            if (status is None or msg.status == status) and (method is None or msg.method == method):
                return msg

    def send(self, data: str | bytes, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data.encode() if isinstance(data, str) else data, ("127.0.0.1", port))


def invite(client_port: int, ep_port: int, call_id: str, branch: str, cseq: int = 1, to_tag: str = "",
           extra: str = "", sdp_port: int = 49170, rport: bool = False) -> str:
    sdp = (f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           f"m=audio {sdp_port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
    to = f"<sip:bot@127.0.0.1:{ep_port}>" + (f";tag={to_tag}" if to_tag else "")
    return (f"INVITE sip:bot@127.0.0.1:{ep_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{client_port};branch={branch}{';rport' if rport else ''}\r\n"
            f"From: <sip:caller@127.0.0.1>;tag=ct\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\n"
            f"Contact: <sip:caller@127.0.0.1:{client_port}>\r\nMax-Forwards: 70\r\n{extra}"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}")


def in_dialog(method: str, client_port: int, ep_port: int, call_id: str, to_tag: str, cseq: int,
              branch: str | None = None) -> str:
    return (f"{method} sip:voicebot@127.0.0.1:{ep_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{client_port};branch={branch or 'z9hG4bK' + secrets.token_hex(4)}\r\n"
            f"From: <sip:caller@127.0.0.1>;tag=ct\r\nTo: <sip:bot@127.0.0.1:{ep_port}>;tag={to_tag}\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n")


@contextlib.asynccontextmanager
async def setup(**overrides):
    sessions = []

    async def on_call(transport, session) -> None:
        sessions.append(session)
        await session.wait_ended()

    settings = SipSettings(port=0, rtp_port_min=45000, rtp_port_max=45999, **overrides)
    ep = SipEndpoint(settings, on_call, timers=Timers(t1=0.02, t2=0.2, t4=0.1))
    await ep.start()
    loop = asyncio.get_running_loop()
    _, client = await loop.create_datagram_endpoint(Client, local_addr=("127.0.0.1", 0))
    try:
        yield ep, client, sessions
    finally:
        client.transport.close()
        await ep.stop()


async def test_retransmitted_invite_is_absorbed_and_200_is_resent_until_ack():
    async with setup() as (ep, client, sessions):
        msg = invite(client.port, ep.port, "c-retx", "z9hG4bKretx")
        client.send(msg, ep.port)
        client.send(msg, ep.port)  # a retransmission
        ok = await client.recv(status=200)
        again = await client.recv(status=200, timeout=1.0)  # resent (T1) while no ACK
        assert again.get("To") == ok.get("To")
        assert len(ep.calls) == 1 and ep.stats["calls"] == 1
        to_tag = NameAddr.parse(ok.get("To")).tag
        client.send(in_dialog("ACK", client.port, ep.port, "c-retx", to_tag, 1), ep.port)
        await asyncio.sleep(0.3)
        while not client.inbox.empty():  # drain what was in flight before the ACK
            client.inbox.get_nowait()
        with pytest.raises(asyncio.TimeoutError):
            await client.recv(status=200, timeout=0.5)
        # re-INVITE (hold) gets the very same SDP
        client.send(invite(client.port, ep.port, "c-retx", "z9hG4bKre", cseq=2, to_tag=to_tag,
                           sdp_port=49170), ep.port)
        re = await client.recv(status=200)
        assert re.body == ok.body
        client.send(in_dialog("ACK", client.port, ep.port, "c-retx", to_tag, 2), ep.port)
        client.send(in_dialog("BYE", client.port, ep.port, "c-retx", to_tag, 3), ep.port)
        bye_ok = await client.recv(status=200)
        while bye_ok.cseq == (2, "INVITE"):  # T1 is 20 ms here: the re-INVITE's 200 may repeat until its ACK lands
            bye_ok = await client.recv(status=200)
        assert bye_ok.cseq == (3, "BYE")
        assert await asyncio.wait_for(sessions[0].wait_ended(), 2) == "caller_hangup"
        assert ep.call_limiter.active == 0


async def test_unknown_dialog_gets_481_and_unknown_method_501_and_rport_is_filled():
    async with setup() as (ep, client, _):
        client.send(in_dialog("BYE", client.port, ep.port, "nope", "x", 2), ep.port)
        assert (await client.recv()).status == 481
        client.send(in_dialog("SUBSCRIBE", client.port, ep.port, "nope", "x", 2), ep.port)
        resp = await client.recv()
        assert resp.status == 501 and "INVITE" in resp.get("Allow")
        options = in_dialog("OPTIONS", client.port, ep.port, "o1", "x", 1).replace(";branch=", ";rport;branch=")
        client.send(options, ep.port)
        via = Via.parse((await client.recv(status=200)).get("Via"))
        assert via.params["rport"] == str(client.port) and via.params["received"] == "127.0.0.1"


async def test_digest_challenge_then_authenticated_invite_is_answered():
    async with setup(digest_users={"trunk": "pw"}, digest_algorithms=["SHA-256", "MD5"]) as (ep, client, _):
        client.send(invite(client.port, ep.port, "c-auth", "z9hG4bKa1"), ep.port)
        challenge = await client.recv(status=401)
        headers = challenge.get_all("WWW-Authenticate")
        assert "algorithm=SHA-256" in headers[0] and "algorithm=MD5" in headers[1]
        client.send(in_dialog("ACK", client.port, ep.port, "c-auth", NameAddr.parse(challenge.get("To")).tag, 1,
                              branch="z9hG4bKa1"), ep.port)
        p = parse_auth_header(headers[0])
        uri = f"sip:bot@127.0.0.1:{ep.port}"
        resp = expected_response("SHA-256", "trunk", p["realm"], "pw", "INVITE", uri, p["nonce"], "00000001", "cn",
                                 "auth")
        auth = (f'Authorization: Digest username="trunk", realm="{p["realm"]}", nonce="{p["nonce"]}", uri="{uri}", '
                f'response="{resp}", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="cn"\r\n')
        client.send(invite(client.port, ep.port, "c-auth", "z9hG4bKa2", cseq=2, extra=auth), ep.port)
        assert (await client.recv(status=200)).cseq == (2, "INVITE")


async def test_rtp_inactivity_ends_the_call_with_bye():
    async with setup(rtp_inactivity_timeout_s=0.5) as (ep, client, sessions):
        client.send(invite(client.port, ep.port, "c-quiet", "z9hG4bKq"), ep.port)
        ok = await client.recv(status=200)
        client.send(in_dialog("ACK", client.port, ep.port, "c-quiet", NameAddr.parse(ok.get("To")).tag, 1), ep.port)
        bye = await client.recv(method="BYE", timeout=3)
        assert bye.uri == f"sip:caller@127.0.0.1:{client.port}"
        resp = SipMessage(status=200, reason="OK", headers=[(n, v) for n, v in bye.headers
                                                            if n in ("Via", "From", "To", "Call-ID", "CSeq")])
        client.send(resp.serialize(), ep.port)
        assert await asyncio.wait_for(sessions[0].wait_ended(), 2) == "rtp_timeout"


async def test_dtmf_and_audio_reach_the_rtp_session_and_latching_follows_the_source():
    async with setup() as (ep, client, sessions):
        loop = asyncio.get_running_loop()
        media, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
        media_port = media.get_extra_info("sockname")[1]
        client.send(invite(client.port, ep.port, "c-media", "z9hG4bKm", sdp_port=1), ep.port)  # SDP port wrong
        ok = await client.recv(status=200)
        rtp_port = int(ok.body.decode().split("m=audio ")[1].split()[0])
        call = ep.calls["c-media"]
        digits = []
        call.rtp.on_dtmf = digits.append
        for i, (payload, pt) in enumerate([(b"\xff" * 160, 0), (bytes([5, 0x8a, 0, 160]), 101)] * 2):
            media.sendto(RtpPacket(pt, 100 + i, 1000 if pt == 101 else 160 * i, 42, payload).serialize(),
                         ("127.0.0.1", rtp_port))
        await asyncio.sleep(0.2)
        assert digits == ["5"]
        assert call.rtp.remote == ("127.0.0.1", media_port)  # symmetric RTP: latched on the real source
        media.close()


async def test_wildcard_bind_needs_a_public_address():
    async def never(transport, session) -> None:
        raise AssertionError

    with pytest.raises(ValueError, match="set sip.public_host"):
        await SipEndpoint(SipSettings(host="0.0.0.0", port=0), never).start()

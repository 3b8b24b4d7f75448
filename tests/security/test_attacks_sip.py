"""Attacks on the SIP/RTP entry, with real datagrams on loopback against a real SipEndpoint.

Each test replays one finding of issue 14 and asserts the fixed behaviour: replies only to the datagram's
source, no DNS from the event loop, no RTP hijack, un-ACKed INVITEs freed quickly, RFC 3261 17.2.3
transaction matching (and RFC 2543 peers), CANCEL racing the answer, floods logged once per source.
Every flood is bounded (a few thousand datagrams) and every call set up is checked to survive.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket

import pytest

from security_support import ErrorRecords, invite, open_peer, request, sip_endpoint
from voicebot.telephony.rtp.packet import RtpPacket
from voicebot.telephony.sip.message import NameAddr, Via
from voicebot.telephony.sip.transaction import Timers

FOREIGN = "127.0.0.2"  # an address the attacker names (a victim): nothing may ever be sent there


def _answer_port(ok) -> int:
    return int(ok.body.decode().split("m=audio ")[1].split()[0])


async def _ack(peer, ep, ok, call_id: str, cseq: int = 1) -> None:
    peer.send(request("ACK", peer, ep.port, call_id, cseq=cseq, to_tag=NameAddr.parse(ok.get("To")).tag), ep.port)


class SendSpy:
    """Wraps the endpoint's UDP transport: records every destination it is asked to send to."""

    def __init__(self, transport) -> None:
        self._transport = transport
        self.destinations: list[tuple] = []

    def sendto(self, data, addr=None) -> None:
        self.destinations.append(addr)
        self._transport.sendto(data, addr)

    def __getattr__(self, name):
        return getattr(self._transport, name)


async def test_caller_supplied_received_never_redirects_replies():
    """Finding 1: 'received=' written by the sender (and a Via port aimed at a victim) is ignored."""
    foreign = await open_peer(FOREIGN)
    peer = await open_peer()
    sent = 0
    async with sip_endpoint(rate_limit_per_s=0) as (ep, _):
        with ErrorRecords() as errors:
            for i in range(200):  # the Via host is the real source, so the old code kept received=
                for params in (f";received={FOREIGN}", f";received={FOREIGN};rport"):
                    peer.send(request("OPTIONS", peer, ep.port, f"refl-{i}", via_params=params)
                              .replace(f"{peer.host}:{peer.port}", f"{peer.host}:{foreign.port}", 1), ep.port)
                    sent += 1
                await asyncio.sleep(0.002)  # a steady flood the loopback buffers can hold
            ok = await peer.recv(status=200)
            replies = len(await peer.statuses(1.0))  # every status line received, the first one too
        via = Via.parse(ok.get("Via"))
        assert via.params.get("received") in (None, "127.0.0.1"), via
        assert replies == sent, (replies, sent)  # every reply went to the real source...
        assert foreign.raw == []  # ...and not one datagram to the named victim
        assert not errors.records
    peer.close()
    foreign.close()


async def test_host_names_in_via_contact_and_sdp_cause_no_dns_and_the_call_goes_on(monkeypatch):
    """Finding 1: names in Via, Contact and SDP c= are never resolved (the old code blocked the loop)."""
    lookups = []
    real_getaddrinfo = socket.getaddrinfo

    def spy(host, *args, **kwargs):
        try:  # binding sockets to 127.0.0.1 goes through getaddrinfo too: only names are lookups
            ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host))
        except ValueError:
            lookups.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    monkeypatch.setattr(socket, "gethostbyname", lambda host: lookups.append(host) or "127.0.0.1")
    peer, media = await open_peer(), await open_peer()
    async with sip_endpoint() as (ep, sessions):
        spy_transport = SendSpy(ep._transport)
        ep._transport = spy_transport
        # a live call whose bot RTP (paced silence) must keep flowing through the attack
        peer.send(invite(peer, ep.port, "live", "z9hG4bKlive", sdp_port=media.port), ep.port)
        ok = await peer.recv(status=200)
        await _ack(peer, ep, ok, "live")
        before = len(media.raw)
        peer.send(request("OPTIONS", peer, ep.port, "dns-1", via_host="attacker.invalid"), ep.port)
        await peer.recv(status=200, call_id="dns-1")  # answered at the source, no lookup
        peer.send(invite(peer, ep.port, "dns-2", "z9hG4bKdns2", sdp_host="media.invalid"), ep.port)
        refused = await peer.recv(status=488, call_id="dns-2")
        assert "not an IP address" in refused.get("Warning")
        peer.send(invite(peer, ep.port, "dns-3", "z9hG4bKdns3", contact_host="contact.invalid",
                         sdp_port=media.port), ep.port)
        ok3 = await peer.recv(status=200, call_id="dns-3")
        await _ack(peer, ep, ok3, "dns-3")
        hangup = asyncio.create_task(ep.hangup(ep.calls["dns-3"], "bot_hangup"))  # BYE to a named Contact
        bye = await peer.recv(method="BYE")  # ...goes where the caller spoke from
        assert bye.call_id == "dns-3"
        hangup.cancel()
        await asyncio.sleep(0.3)
        assert len(media.raw) > before  # the live call's audio kept coming
        assert "live" in ep.calls and not sessions[0].ended
    assert lookups == []
    assert all(ipaddress.ip_address(d[0]) for d in spy_transport.destinations)
    peer.close()
    media.close()


async def test_rtp_from_a_foreign_source_is_neither_heard_nor_answered():
    """Finding 2: only the SDP address (or configured NAT networks) may become the media peer."""
    peer, media = await open_peer(), await open_peer()
    intruder = await open_peer(FOREIGN)
    async with sip_endpoint() as (ep, sessions):
        peer.send(invite(peer, ep.port, "hijack", "z9hG4bKhj", sdp_port=1), ep.port)  # SDP port: NAT rewrote it
        ok = await peer.recv(status=200)
        await _ack(peer, ep, ok, "hijack")
        rtp_port = _answer_port(ok)
        call = ep.calls["hijack"]
        heard: list[bytes] = []
        call.rtp.on_audio = heard.append
        for i in range(300):  # the intruder sprays first, before the caller's first packet
            intruder.send(RtpPacket(0, i, 160 * i, 0xBAD, b"\x00" * 160).serialize(), rtp_port)
        await asyncio.sleep(0.3)
        assert heard == [] and not call.rtp.latched and call.rtp.dropped_foreign > 0
        for i in range(10):  # the caller, from its SDP address (another port: symmetric NAT)
            media.send(RtpPacket(0, 1000 + i, 160 * i, 0x600D, b"\xff" * 160).serialize(), rtp_port)
        await asyncio.sleep(0.3)
        assert call.rtp.latched and call.rtp.remote == ("127.0.0.1", media.port)
        heard_from_caller = len(heard)
        assert heard_from_caller > 0
        for i in range(100):  # after latching the intruder is still ignored
            intruder.send(RtpPacket(0, 2000 + i, 160 * i, 0xBAD, b"\x00" * 160).serialize(), rtp_port)
        await asyncio.sleep(0.3)
        assert len(heard) == heard_from_caller
        assert intruder.raw == []  # the bot's audio never went to the intruder
        assert any(len(d) > 100 for d, _ in media.raw)  # it goes to the caller
        assert not sessions[0].ended
    for p in (peer, media, intruder):
        p.close()


async def test_an_un_acked_invite_frees_its_slot_quickly():
    """Finding 5: a 200 OK never ACKed held a slot ~94 s (64*T1 for the ACK, then 64*T1 for the BYE)."""
    peer = await open_peer()
    async with sip_endpoint(timers=Timers(t1=0.5, t2=4.0, t4=5.0), max_calls=1, ack_timeout_s=1.0) as (ep, _):
        peer.send(invite(peer, ep.port, "no-ack", "z9hG4bKnoack"), ep.port)
        await peer.recv(status=200)
        bye = await peer.recv(method="BYE", timeout=5)  # never answered: the BYE retransmits for 32 s
        assert bye.call_id == "no-ack"
        assert ep.call_limiter.active == 0
        peer.send(invite(peer, ep.port, "next", "z9hG4bKnext"), ep.port)
        await peer.recv(status=200, timeout=3, call_id="next")  # the slot is free: 200, not 503
    peer.close()


async def test_transactions_match_branch_sent_by_and_method_and_rfc2543_peers_are_answered():
    """Finding 8: two callers reusing a branch, and RFC 2543 callers without one, each get their call."""
    a, b = await open_peer(), await open_peer()
    async with sip_endpoint() as (ep, sessions):
        a.send(invite(a, ep.port, "same-branch-a", "z9hG4bKsame"), ep.port)
        b.send(invite(b, ep.port, "same-branch-b", "z9hG4bKsame"), ep.port)
        await a.recv(status=200, call_id="same-branch-a")
        await b.recv(status=200, call_id="same-branch-b")
        old = invite(a, ep.port, "rfc2543-a", None, from_tag="old1")
        a.send(old, ep.port)
        a.send(old, ep.port)  # a retransmission: absorbed by the same transaction
        b.send(invite(b, ep.port, "rfc2543-b", None, from_tag="old2"), ep.port)
        await a.recv(status=200, call_id="rfc2543-a")
        await b.recv(status=200, call_id="rfc2543-b")
        await asyncio.sleep(0.2)
        assert ep.stats["calls"] == 4 and len(ep.calls) == 4
        a.send(request("OPTIONS", a, ep.port, "opt-2543", branch=None), ep.port)
        await a.recv(status=200, call_id="opt-2543")
    a.close()
    b.close()


async def test_cancel_racing_the_answer():
    """Finding 8: CANCEL after the 200 changes nothing; CANCEL before it starts no pipeline."""
    peer = await open_peer()
    async with sip_endpoint() as (ep, sessions):
        peer.send(invite(peer, ep.port, "late-cancel", "z9hG4bKlate"), ep.port)
        ok = await peer.recv(status=200)
        peer.send(request("CANCEL", peer, ep.port, "late-cancel", branch="z9hG4bKlate"), ep.port)
        while (await peer.recv(status=200, call_id="late-cancel")).cseq != (1, "CANCEL"):
            pass  # (skipping the 200 OK retransmissions of the INVITE)
        assert 487 not in await peer.statuses(0.5)
        await _ack(peer, ep, ok, "late-cancel")
        assert "late-cancel" in ep.calls and len(sessions) == 1 and not sessions[0].ended

        # The CANCEL in the same instant as the INVITE: answered 487, no 200, no pipeline, slot free.
        peer.send(invite(peer, ep.port, "race", "z9hG4bKrace"), ep.port)
        peer.send(request("CANCEL", peer, ep.port, "race", branch="z9hG4bKrace"), ep.port)
        got = await peer.statuses(1.0)
        assert 487 in got and 200 in got  # the 200 is the CANCEL's
        assert "race" not in ep.calls and len(sessions) == 1 and ep.call_limiter.active == 1

        # RFC 2543 CANCEL (no branch) of a ringing INVITE
        async with sip_endpoint(answer_delay_s=5) as (ep2, sessions2):
            peer.send(invite(peer, ep2.port, "old-cancel", None), ep2.port)
            await peer.recv(status=180)
            peer.send(request("CANCEL", peer, ep2.port, "old-cancel", branch=None), ep2.port)
            assert (await peer.recv(status=487)).call_id == "old-cancel"
            assert sessions2 == [] and ep2.call_limiter.active == 0
    peer.close()


async def test_floods_are_logged_once_per_source_and_the_call_goes_on(caplog):
    """Finding 9: oversized datagrams and refused sources cost one log line per source and interval."""
    caplog.set_level(logging.INFO, logger="voicebot.telephony.sip")
    peer, media = await open_peer(), await open_peer()
    stranger = await open_peer(FOREIGN)
    async with sip_endpoint(allowed_cidrs=["127.0.0.1/32"]) as (ep, sessions):
        peer.send(invite(peer, ep.port, "survivor", "z9hG4bKsurv", sdp_port=media.port), ep.port)
        ok = await peer.recv(status=200)
        await _ack(peer, ep, ok, "survivor")
        big = b"OPTIONS sip:x SIP/2.0\r\n" + b"X" * 9000
        for i in range(2000):
            peer.send(big, ep.port)
            stranger.send(request("OPTIONS", stranger, ep.port, f"s-{i}"), ep.port)
            if i % 100 == 99:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        oversized = [r for r in caplog.records if "-byte limit" in r.getMessage()]
        refused = [r for r in caplog.records if "not allowed" in r.getMessage()]
        # (the kernel drops part of a flood this fast before the endpoint reads it: count what arrived)
        assert ep.stats["dropped_oversized"] > 50 and len(oversized) == 1
        assert ep.stats["forbidden"] + ep.stats["dropped_rate"] > 50 and len(refused) == 1
        peer.send(request("OPTIONS", peer, ep.port, "after-flood"), ep.port)
        await peer.recv(status=200, call_id="after-flood")
        assert "survivor" in ep.calls and not sessions[0].ended
    for p in (peer, media, stranger):
        p.close()


@pytest.mark.parametrize("cidrs,latched", [([], False), (["127.0.0.2/32"], True)])
async def test_nat_networks_may_be_allowed_to_latch(cidrs, latched):
    peer, intruder = await open_peer(), await open_peer(FOREIGN)
    async with sip_endpoint(rtp_latch_cidrs=cidrs) as (ep, _):
        peer.send(invite(peer, ep.port, "nat", "z9hG4bKnat"), ep.port)
        ok = await peer.recv(status=200)
        intruder.send(RtpPacket(0, 1, 160, 7, b"\xff" * 160).serialize(), _answer_port(ok))
        await asyncio.sleep(0.2)
        assert ep.calls["nat"].rtp.latched is latched
    peer.close()
    intruder.close()

"""INVITE server transaction timers (RFC 3261 17.2.1, 13.3.1.4) with shrunk T1/T2 and a recorded send."""

from __future__ import annotations

import asyncio
import itertools

from voicebot.telephony.sip.message import make_response, parse_message
from voicebot.telephony.sip.transaction import ClientTransaction, InviteServerTransaction, Timers

INVITE = (b"INVITE sip:bot@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc\r\n"
          b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bot@127.0.0.1>\r\nCall-ID: t1\r\nCSeq: 1 INVITE\r\n"
          b"Contact: <sip:a@127.0.0.1:5070>\r\n\r\n")
TIMERS = Timers(t1=0.02, t2=0.08, t4=0.05)


def _times(sent: list[tuple[float, bytes]], start: bytes) -> list[float]:
    return [t for t, d in sent if d.startswith(start)]


async def test_2xx_is_resent_with_doubling_intervals_until_ack():
    sent: list[tuple[float, bytes]] = []
    loop = asyncio.get_running_loop()
    req = parse_message(INVITE)
    tx = InviteServerTransaction(req, ("127.0.0.1", 5070), lambda d, a: sent.append((loop.time(), d)), TIMERS)
    tx.trying()
    t0 = loop.time()
    tx.respond(make_response(req, 200, "OK", to_tag="x"))
    await asyncio.sleep(0.25)
    tx.on_ack()
    n = len(_times(sent, b"SIP/2.0 200"))
    await asyncio.sleep(0.15)
    times = [t - t0 for t in _times(sent, b"SIP/2.0 200")]
    assert len(times) == n  # nothing after the ACK
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] < gaps[1] < gaps[2] + 0.01  # 20, 40, 80 ms ...
    assert max(gaps) < 0.08 + 0.03  # ... capped at T2
    assert sent[0][1].startswith(b"SIP/2.0 100 Trying") and tx.ack_received.is_set()
    assert tx.state == "terminated"  # after the ACK of a 2xx the dialog takes over (no timer I)


async def test_no_ack_gives_up_at_64_t1_and_reports_it():
    gave_up = asyncio.Event()
    req = parse_message(INVITE)
    sent: list[bytes] = []
    tx = InviteServerTransaction(req, ("127.0.0.1", 5070), lambda d, a: sent.append(d), Timers(t1=0.005, t2=0.02),
                                 on_no_ack=gave_up.set)
    tx.respond(make_response(req, 200, "OK", to_tag="x"))
    await asyncio.wait_for(gave_up.wait(), 1.0)
    assert tx.state == "terminated" and len(sent) > 5


async def test_retransmitted_invite_gets_the_last_response_again():
    req = parse_message(INVITE)
    sent: list[bytes] = []
    tx = InviteServerTransaction(req, ("127.0.0.1", 5070), lambda d, a: sent.append(d), TIMERS)
    tx.trying()
    tx.on_retransmitted_request()
    assert [d[:20] for d in sent] == [b"SIP/2.0 100 Trying\r\n"] * 2
    tx.respond(make_response(req, 486, "Busy Here", to_tag="x"))
    tx.on_retransmitted_request()
    assert sent[-1].startswith(b"SIP/2.0 486") and sent[-2].startswith(b"SIP/2.0 486")
    tx.on_ack()
    assert tx.state == "confirmed"


async def test_client_transaction_resends_until_final_and_times_out_with_408():
    req = parse_message(INVITE.replace(b"INVITE", b"BYE"))
    sent: list[bytes] = []
    tx = ClientTransaction(req, ("127.0.0.1", 5070), lambda d, a: sent.append(d), Timers(t1=0.005, t2=0.02))
    resp = await tx.run()
    assert resp.status == 408 and len(sent) > 3
    tx2 = ClientTransaction(req, ("127.0.0.1", 5070), lambda d, a: None, TIMERS)
    asyncio.get_running_loop().call_later(0.03, tx2.on_response, make_response(req, 200, "OK"))
    assert (await tx2.run()).status == 200

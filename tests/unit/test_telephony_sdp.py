"""SDP offer/answer: PCMU then PCMA, telephone-event kept, ptime 20, 488 when nothing matches."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicebot.telephony.sip.message import parse_message
from voicebot.telephony.sip.sdp import (NoCommonCodec, SdpError, build_answer, is_hold, negotiate, parse_sdp)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "sip"


def offer(m: str, extra: str = "", c: str = "c=IN IP4 10.0.0.5\r\n") -> bytes:
    return f"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\n{c}t=0 0\r\nm=audio 4000 RTP/AVP {m}\r\n{extra}".encode()


def test_baresip_offer_gets_pcmu_and_its_telephone_event():
    body = parse_message((GOLDEN / "baresip-invite.sip").read_bytes()).body
    media = negotiate(parse_sdp(body))
    assert (media.codec, media.payload_type, media.dtmf_payload_type) == ("PCMU", 0, 101)
    assert media.remote_host == "127.0.0.1"


def test_sipp_pcma_offer_gets_pcma():
    body = parse_message((GOLDEN / "sipp-invite.sip").read_bytes()).body
    media = negotiate(parse_sdp(body))
    assert (media.codec, media.payload_type, media.dtmf_payload_type) == ("PCMA", 8, 101)


def test_our_preference_wins_over_the_callers_order():
    assert negotiate(parse_sdp(offer("8 0"))).codec == "PCMU"


def test_rtpmap_names_dynamic_payload_types():
    sd = parse_sdp(offer("96 97", "a=rtpmap:96 PCMA/8000\r\na=rtpmap:97 telephone-event/8000\r\n"))
    media = negotiate(sd)
    assert (media.payload_type, media.codec, media.dtmf_payload_type) == (96, "PCMA", 97)


def test_no_common_codec_is_refused():
    with pytest.raises(NoCommonCodec, match="offered: G729"):
        negotiate(parse_sdp(offer("18", "a=rtpmap:18 G729/8000\r\n")))
    with pytest.raises(NoCommonCodec):
        negotiate(parse_sdp(offer("0").replace(b"RTP/AVP", b"RTP/SAVP")))


def test_answer_has_one_codec_dtmf_and_ptime_20():
    media = negotiate(parse_sdp(offer("0 8 101", "a=rtpmap:101 telephone-event/8000\r\n")))
    answer = build_answer(media, "192.0.2.1", 40002, session_id=7).decode()
    assert "m=audio 40002 RTP/AVP 0 101\r\n" in answer
    assert "a=rtpmap:0 PCMU/8000" in answer and "a=rtpmap:101 telephone-event/8000" in answer
    assert "a=ptime:20" in answer and "c=IN IP4 192.0.2.1" in answer and answer.endswith("a=sendrecv\r\n")
    again = negotiate(parse_sdp(answer))
    assert (again.remote_port, again.codec) == (40002, "PCMU")


def test_ipv6_answer():
    media = negotiate(parse_sdp(offer("0", c="c=IN IP6 ::1\r\n")))
    assert media.remote_host == "::1"
    assert "c=IN IP6 ::1" in build_answer(media, "::1", 40000).decode()


def test_hold_forms():
    assert is_hold(negotiate(parse_sdp(offer("0", "a=sendonly\r\n"))))
    assert is_hold(negotiate(parse_sdp(offer("0", c="c=IN IP4 0.0.0.0\r\n"))))
    assert not is_hold(negotiate(parse_sdp(offer("0", "a=sendrecv\r\n"))))


@pytest.mark.parametrize("body, error", [
    (b"", "SDP must start with v="),
    (b"v=0\r\nc=IN IP4\r\n", "bad c= line"),
    (b"v=0\r\nm=audio x RTP/AVP 0\r\n", "bad media port"),
    (b"v=0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:x PCMU/8000\r\n", "bad a=rtpmap payload type"),
    (b"v=0\r\nm=audio 1 RTP/AVP 0\r\n", "no c= connection address"),
    (b"v=0\r\nbogus\r\n", "bad SDP line"),
])
def test_sdp_defects(body, error):
    with pytest.raises(SdpError, match=error):
        negotiate(parse_sdp(body))

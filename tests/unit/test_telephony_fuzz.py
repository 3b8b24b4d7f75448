"""Bounded property-based fuzzing of the SIP and SDP parsers: any input gives a message or one
SipParseError/SdpError, never another exception (runs in CI within a few seconds)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicebot.telephony.sip.message import SipParseError, parse_message
from voicebot.telephony.sip.sdp import SdpError, negotiate, parse_sdp

GOLDEN = [p.read_bytes() for p in sorted((Path(__file__).resolve().parents[1] / "golden" / "sip").glob("*.sip"))]
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mutate(data: bytes, cuts: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for pos, length, insert in cuts:
        pos %= max(1, len(out))
        out[pos:pos + length] = insert
    return bytes(out)


def _parse_sip(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        assert str(exc)
        return
    msg.serialize()
    _ = (msg.cseq, msg.top_via, msg.call_id)


@FUZZ
@given(st.binary(max_size=2048))
def test_sip_parser_random_bytes(data):
    _parse_sip(data)


@FUZZ
@given(st.sampled_from(GOLDEN), st.lists(st.tuples(st.integers(0, 4096), st.integers(0, 8),
                                                    st.binary(max_size=8) | st.sampled_from(
                                                        [b"\r\n", b":", b";", b"<", b"[", b" ", b"\r\n ", b",",
                                                         b"SIP/2.0", b"\x00", b"\xff"])), max_size=6))
def test_sip_parser_mutated_golden_messages(message, cuts):
    _parse_sip(_mutate(message, cuts))


def _parse_sdp(data: bytes) -> None:
    try:
        negotiate(parse_sdp(data))
    except SdpError as exc:
        assert str(exc)


SDP = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\n" \
      b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 6),
                          st.binary(max_size=6) | st.sampled_from([b"\r\n", b"=", b" ", b"/", b":", b"m=", b"a="])),
                max_size=6))
def test_sdp_parser_mutated_offer(cuts):
    _parse_sdp(_mutate(SDP, cuts))


@FUZZ
@given(st.text(max_size=600))
def test_sdp_parser_random_text(text):
    _parse_sdp(("v=0\r\n" + text).encode("utf-8", "surrogatepass"))

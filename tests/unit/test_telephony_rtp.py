"""RTP packet, G.711 tables, reorder buffer and RFC 4733 DTMF, on golden packets from sipp and baresip."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from voicebot.telephony.rtp import g711
from voicebot.telephony.rtp.dtmf import DtmfEvent, DtmfReceiver, digit_event
from voicebot.telephony.rtp.jitter import JitterBuffer
from voicebot.telephony.rtp.packet import RtpPacket, RtpParseError, is_rtcp

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "rtp"


def golden(name: str) -> bytes:
    return (GOLDEN / f"{name}.rtp").read_bytes()


@pytest.mark.parametrize("name, pt, size", [("sipp-pcma", 8, 240), ("baresip-pcmu", 0, 160),
                                            ("sipp-telephone-event", 101, 4)])
def test_golden_packets_parse_and_round_trip(name, pt, size):
    data = golden(name)
    packet = RtpPacket.parse(data)
    assert packet.payload_type == pt and len(packet.payload) == size
    assert packet.serialize() == data


def test_golden_dtmf_start_and_end():
    start = DtmfEvent.parse(RtpPacket.parse(golden("sipp-telephone-event")).payload)
    end = DtmfEvent.parse(RtpPacket.parse(golden("sipp-telephone-event-end")).payload)
    assert (start.digit, start.end) == ("1", False)
    assert (end.digit, end.end, end.duration) == ("1", True, 2240)


def test_packet_with_csrc_extension_and_padding():
    body = bytes([0x80 | 0x20 | 0x10 | 1, 0x80 | 0]) + (5).to_bytes(2, "big") + (160).to_bytes(4, "big")
    body += (0x1234).to_bytes(4, "big") + (0xAAAA).to_bytes(4, "big")  # one CSRC
    body += (0xBEDE).to_bytes(2, "big") + (1).to_bytes(2, "big") + b"\x00" * 4  # one-word extension
    body += b"\xff" * 10 + b"\x00\x00\x03"  # payload + 3 bytes of padding (last byte = 3)
    packet = RtpPacket.parse(body)
    assert packet.csrc == (0xAAAA,) and packet.marker and packet.payload == b"\xff" * 10


@pytest.mark.parametrize("data, error", [(b"\x80\x00", "shorter than an RTP header"),
                                         (b"\x40" + b"\x00" * 11, "RTP version 1"),
                                         (b"\x8f" + b"\x00" * 11, "CSRC list runs past"),
                                         (b"\xa0" + b"\x00" * 11 + b"\x09", "padding runs past")])
def test_bad_packets(data, error):
    with pytest.raises(RtpParseError, match=error):
        RtpPacket.parse(data)


def test_rtcp_is_recognised():
    assert is_rtcp(b"\x80\xc8" + b"\x00" * 6) and not is_rtcp(golden("sipp-pcma"))


def test_g711_tables_match_audioop_bit_for_bit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    pcm = np.arange(-32768, 32768, dtype="<i2").tobytes()
    codes = bytes(range(256))
    assert g711.ulaw_encode(pcm) == audioop.lin2ulaw(pcm, 2)
    assert g711.alaw_encode(pcm) == audioop.lin2alaw(pcm, 2)
    assert g711.ulaw_decode(codes) == audioop.ulaw2lin(codes, 2)
    assert g711.alaw_decode(codes) == audioop.alaw2lin(codes, 2)


def test_g711_silence_constants():
    assert g711.ulaw_decode(bytes([g711.ULAW_SILENCE])) == b"\x00\x00"
    assert abs(int(np.frombuffer(g711.alaw_decode(bytes([g711.ALAW_SILENCE])), "<i2")[0])) <= 8


def test_golden_pcma_decodes_to_the_expected_samples():
    payload = RtpPacket.parse(golden("sipp-pcma")).payload
    pcm = np.frombuffer(g711.alaw_decode(payload), dtype="<i2")
    assert len(pcm) == 240 and g711.alaw_encode(pcm.tobytes()) == payload


def _pkt(seq: int, ts: int = 0) -> RtpPacket:
    return RtpPacket(0, seq & 0xFFFF, ts, 1, bytes([seq & 0xFF]))


def test_jitter_buffer_reorders_and_drops_duplicates_and_late_packets():
    jb = JitterBuffer(depth=3)
    out = [p.sequence for s in (10, 12, 11, 11, 13, 9) for p in jb.push(_pkt(s))]
    assert out == [10, 11, 12, 13]
    assert jb.late == 2  # the second 11 (already played) and 9


def test_jitter_buffer_gives_up_on_a_lost_packet_after_depth():
    jb = JitterBuffer(depth=2)
    out = [p.sequence for s in (1, 3, 4, 5) for p in jb.push(_pkt(s))]
    assert out == [1, 3, 4, 5] and jb.lost == 1


def test_jitter_buffer_wraps_and_resyncs():
    jb = JitterBuffer(depth=2)
    assert [p.sequence for s in (65534, 65535, 0, 1) for p in jb.push(_pkt(s))] == [65534, 65535, 0, 1]
    assert [p.sequence for p in jb.push(_pkt(30000))] == [30000]  # sender restarted: resynchronise


def test_dtmf_receiver_reports_each_event_once():
    rx = DtmfReceiver()
    digits = []
    for ts, code, end in [(100, 1, False), (100, 1, False), (100, 1, True), (100, 1, True), (100, 1, True),
                          (900, 11, False), (900, 11, True), (1700, 1, True)]:
        digits += rx.feed(ts, DtmfEvent(code, end, 10, 800).serialize())
    assert digits == ["1", "#", "1"]


def test_dtmf_receiver_reports_a_digit_whose_end_packets_were_lost():
    rx = DtmfReceiver()
    assert rx.feed(100, DtmfEvent(5, False, 10, 160).serialize()) == []
    assert rx.feed(900, DtmfEvent(0, False, 10, 160).serialize()) == ["5"]
    assert rx.feed(900, DtmfEvent(0, True, 10, 800).serialize()) == ["0"]


def test_dtmf_codes():
    assert digit_event("*") == 10 and digit_event("#") == 11 and digit_event("d") == 15
    with pytest.raises(ValueError):
        digit_event("x")

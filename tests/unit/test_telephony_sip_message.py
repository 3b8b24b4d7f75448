"""SIP message parser/serializer on golden captures from real peers and on crafted defects."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicebot.telephony.sip.message import (NameAddr, SipMessage, SipParseError, SipUri, Via, canonical_name,
                                            make_response, parse_message, split_values)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "sip"
GOLDEN_FILES = sorted(GOLDEN.glob("*.sip"))


def test_golden_files_are_present():
    names = {p.stem for p in GOLDEN_FILES}
    assert {"sipp-invite", "baresip-invite", "kamailio-invite", "sipp-ipv6-options", "kamailio-options"} <= names


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.stem)
def test_golden_messages_parse_and_round_trip(path):
    msg = parse_message(path.read_bytes())
    assert msg.is_request
    assert msg.call_id and msg.cseq[1] == msg.method
    again = parse_message(msg.serialize())
    def without_length(m):
        return [h for h in m.headers if h[0] != "Content-Length"]

    assert without_length(again) == without_length(msg) and again.body == msg.body and again.uri == msg.uri


def test_kamailio_invite_has_two_vias_record_route_and_a_folded_header():
    msg = parse_message((GOLDEN / "kamailio-invite.sip").read_bytes())
    vias = msg.get_all("Via")
    assert len(vias) == 2
    assert Via.parse(vias[1]).params["rport"].isdigit()
    assert msg.top_via.branch.startswith("z9hG4bK")
    assert ";lr" in msg.get("Record-Route")
    assert msg.get("Subject") == "routed by the load balancer"  # folded line joined
    assert msg.get("Content-Length") == "168" and msg.body.startswith(b"v=0")


def test_ipv6_compact_forms_expand():
    msg = parse_message((GOLDEN / "sipp-ipv6-options.sip").read_bytes())
    assert msg.method == "OPTIONS"
    via = msg.top_via
    assert via.host == "::1" and via.port and "rport" in via.params
    assert NameAddr.parse(msg.get("From")).display == "Sipp Caller"
    assert msg.get("Supported") == "replaces" and msg.get("Subject") == "compact subject"
    uri = SipUri.parse(msg.uri)
    assert uri.host == "::1" and str(uri).startswith("sip:service@[::1]:")
    assert str(via).startswith("SIP/2.0/UDP [::1]:")


def test_baresip_empty_supported_header_is_kept():
    msg = parse_message((GOLDEN / "baresip-invite.sip").read_bytes())
    assert ("Supported", "") in msg.headers
    assert msg.get_all("Allow")[:3] == ["INVITE", "ACK", "BYE"]


def test_split_values_respects_quotes_and_brackets():
    assert split_values('"Doe, John" <sip:a@b;x=1,2>, <sip:c@d>') == ['"Doe, John" <sip:a@b;x=1,2>', "<sip:c@d>"]


def test_canonical_names():
    assert canonical_name("i") == "Call-ID" and canonical_name("CALL-ID") == "Call-ID"
    assert canonical_name("www-authenticate") == "WWW-Authenticate" and canonical_name("x-my-hdr") == "X-My-Hdr"


BASE = (b"OPTIONS sip:bot@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
        b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bot@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n")


@pytest.mark.parametrize("data, error", [
    (BASE.replace(b"Call-ID: c1\r\n", b"") + b"\r\n", "missing Call-ID header"),
    (BASE.replace(b"CSeq: 1 OPTIONS", b"CSeq: x OPTIONS") + b"\r\n", "bad CSeq 'x OPTIONS'"),
    (BASE.replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE") + b"\r\n", "CSeq method INVITE does not match OPTIONS"),
    (BASE + b"Content-Length: 10\r\n\r\nabc", "Content-Length 10 exceeds the 3-byte body"),
    (BASE + b"Content-Length: -1\r\n\r\n", "bad Content-Length '-1'"),
    (BASE + b"no colon here\r\n\r\n", "bad header line 'no colon here'"),
    (BASE.replace(b"SIP/2.0/UDP 127.0.0.1:5070", b"SIP/2.0/UDP [::1:5070") + b"\r\n", "bad IPv6 reference"),
    (b"OPTIONS bot SIP/2.0\r\n\r\n", "bad Request-URI 'bot'"),
    (b"SIP/2.0 2000 OK\r\n\r\n", "bad status line"),
    (BASE, "no blank line between headers and body"),
    (b"\xff\xfe" + BASE + b"\r\n", "header section is not UTF-8"),
    (b"\r\n\r\n", "empty message"),
])
def test_defects_give_one_precise_error(data, error):
    with pytest.raises(SipParseError) as exc:
        parse_message(data)
    assert error in str(exc.value)


def test_size_limit():
    with pytest.raises(SipParseError, match="exceeds the 1024-byte limit"):
        parse_message(BASE + b"X: " + b"a" * 2000 + b"\r\n\r\n", max_size=1024)


def test_partial_message_is_kept_for_a_400():
    with pytest.raises(SipParseError) as exc:
        parse_message(BASE.replace(b"CSeq: 1 OPTIONS", b"CSeq: one OPTIONS") + b"\r\n")
    assert exc.value.partial is not None and exc.value.partial.call_id == "c1"


def test_bare_lf_and_longer_body_are_tolerated():
    msg = parse_message(BASE.replace(b"\r\n", b"\n") + b"Content-Length: 2\n\nabcdef")
    assert msg.body == b"ab"


def test_response_copies_dialog_headers_and_adds_to_tag():
    req = parse_message((GOLDEN / "kamailio-invite.sip").read_bytes())
    resp = make_response(req, 200, "OK", to_tag="abc", headers=[("Contact", "<sip:bot@127.0.0.1>")], body=b"v=0\r\n")
    assert resp.get_all("Via") == req.get_all("Via")
    assert NameAddr.parse(resp.get("To")).tag == "abc"
    data = resp.serialize()
    assert data.startswith(b"SIP/2.0 200 OK\r\n") and b"Content-Length: 5\r\n\r\nv=0\r\n" in data
    assert parse_message(data).status == 200


def test_set_replaces_all_values_in_place():
    msg = SipMessage(method="OPTIONS", uri="sip:a@b", headers=[("Via", "1"), ("To", "x"), ("Via", "2")])
    msg.set("via", "3")
    assert msg.headers == [("Via", "3"), ("To", "x")]

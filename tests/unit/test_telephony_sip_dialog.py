"""Dialog state from an INVITE received through kamailio: tags, CSeq, route set for our BYE."""

from __future__ import annotations

from pathlib import Path

from voicebot.telephony.sip.dialog import Dialog
from voicebot.telephony.sip.message import NameAddr, parse_message

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "sip"


def test_dialog_from_a_proxied_invite_routes_our_bye_through_the_proxy():
    invite = parse_message((GOLDEN / "kamailio-invite.sip").read_bytes())
    dialog = Dialog.from_invite(invite, "<sip:voicebot@127.0.0.1:5080>", "ourtag")
    assert dialog.remote_tag == NameAddr.parse(invite.get("From")).tag
    proxy = invite.get("Record-Route")
    assert dialog.route_set == [proxy]
    bye = dialog.create_request("BYE", "127.0.0.1", 5080)
    assert bye.uri == dialog.remote_target  # loose routing: R-URI is the caller's Contact
    assert bye.get_all("Route") == [proxy]
    assert NameAddr.parse(bye.get("From")).tag == "ourtag"
    assert NameAddr.parse(bye.get("To")).tag == dialog.remote_tag
    assert bye.cseq == (dialog.local_cseq, "BYE")
    port = int(proxy.split(":")[2].split(";")[0])
    assert dialog.next_hop() == ("127.0.0.1", port)
    refer = dialog.create_request("REFER", "127.0.0.1", 5080)
    assert refer.cseq[0] == bye.cseq[0] + 1 and refer.top_via.branch != bye.top_via.branch


def test_direct_dialog_goes_to_the_contact_and_checks_cseq():
    invite = parse_message((GOLDEN / "baresip-invite.sip").read_bytes())
    dialog = Dialog.from_invite(invite, "<sip:voicebot@127.0.0.1:5080>")
    assert dialog.route_set == [] and dialog.next_hop()[0] == "127.0.0.1"
    bye = parse_message((GOLDEN / "baresip-bye.sip").read_bytes())
    assert dialog.accepts_cseq(bye)
    assert not dialog.accepts_cseq(bye)  # same CSeq again: out of order

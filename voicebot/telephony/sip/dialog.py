"""SIP dialog state on the UAS side (RFC 3261 section 12): tags, CSeq, Call-ID, remote target, route set.

Built from the INVITE we answer; builds our in-dialog requests (BYE, REFER) so they follow the
Record-Route set (a load balancer in front of several bots sees them) and checks the peer's CSeq.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .message import NameAddr, SipMessage, SipParseError, SipUri, Via, new_branch, new_tag

MAX_FORWARDS = 70


@dataclass
class Dialog:
    """One SIP dialog (RFC 3261 12): tags, CSeq counters and route set."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str  # our To value (without tag), as the caller wrote it
    remote_uri: str  # the caller's From value (without tag)
    remote_target: str  # Contact URI of the caller
    route_set: list[str] = field(default_factory=list)  # Record-Route values, in order (UAS view)
    local_contact: str = ""
    remote_cseq: int = 0
    local_cseq: int = field(default_factory=lambda: random.randint(1, 10_000))

    @classmethod
    def from_invite(cls, invite: SipMessage, local_contact: str, local_tag: str | None = None) -> "Dialog":
        from_ = NameAddr.parse(invite.get("From") or "")
        to = NameAddr.parse(invite.get("To") or "")
        contact = invite.get("Contact")
        if not contact:
            raise SipParseError("INVITE without Contact")
        target = NameAddr.parse(contact).uri
        SipUri.parse(target)  # validates
        from_.params.pop("tag", None)
        to.params.pop("tag", None)
        return cls(call_id=invite.call_id, local_tag=local_tag or new_tag(),
                   remote_tag=NameAddr.parse(invite.get("From") or "").tag, local_uri=str(to),
                   remote_uri=str(from_), remote_target=target,
                   route_set=invite.get_all("Record-Route"), local_contact=local_contact,
                   remote_cseq=invite.cseq[0])

    @property
    def id(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    def accepts_cseq(self, request: SipMessage) -> bool:
        """In-dialog requests must have a growing CSeq (ACK and CANCEL reuse the INVITE's)."""
        number, _ = request.cseq
        if request.method in ("ACK", "CANCEL"):
            return True
        if number <= self.remote_cseq:
            return False
        self.remote_cseq = number
        return True

    def next_hop(self) -> tuple[str, int]:
        """Where our in-dialog requests go: first route if any (loose routing), else the remote target."""
        uri = SipUri.parse(NameAddr.parse(self.route_set[0]).uri if self.route_set else self.remote_target)
        return uri.params.get("maddr", uri.host), uri.port or 5060

    def create_request(self, method: str, via_host: str, via_port: int,
                       headers: list[tuple[str, str]] | None = None, body: bytes = b"",
                       content_type: str | None = None) -> SipMessage:
        """A new in-dialog request with the next local CSeq and the route set."""
        self.local_cseq += 1
        uri = self.remote_target
        routes = list(self.route_set)
        if routes and "lr" not in SipUri.parse(NameAddr.parse(routes[0]).uri).params:
            uri = NameAddr.parse(routes[0]).uri  # strict router (RFC 3261 12.2.1.1)
            routes = routes[1:] + [f"<{self.remote_target}>"]
        req = SipMessage(method=method, uri=uri)
        req.add("Via", str(Via("UDP", via_host, via_port, {"branch": new_branch(), "rport": ""})))
        req.add("Max-Forwards", str(MAX_FORWARDS))
        for route in routes:
            req.add("Route", route)
        req.add("From", f"{self.local_uri};tag={self.local_tag}")
        req.add("To", f"{self.remote_uri};tag={self.remote_tag}")
        req.add("Call-ID", self.call_id)
        req.add("CSeq", f"{self.local_cseq} {method}")
        if self.local_contact:
            req.add("Contact", self.local_contact)
        for name, value in headers or []:
            req.add(name, value)
        if body:
            req.add("Content-Type", content_type or "application/sdp")
        req.body = body
        return req

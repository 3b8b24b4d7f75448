"""SIP message: parse from and serialize to the wire (RFC 3261 section 7, 20, 25).

Written here (see the package docstring) because every datagram of every call passes through it:
it must be strict where safety needs it (size limit, Content-Length, required headers) and tolerant
where real peers differ (compact forms, folded lines, bare LF, several values in one header).
Every failure raises ``SipParseError`` with one precise message.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from dataclasses import dataclass, field

SIP_VERSION = "SIP/2.0"
DEFAULT_MAX_MESSAGE_BYTES = 8192
REQUIRED_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")
# Headers that may appear once only (RFC 3261 7.3.1): two values are ambiguous, hence refused (RFC 4475 3.3.8/9).
SINGLE_HEADERS = ("From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type")
# Headers whose comma-separated values are separate header values (RFC 3261 section 7.3.1).
MULTI_VALUE_HEADERS = frozenset({"Via", "Route", "Record-Route", "Contact", "Allow", "Supported"})

COMPACT_FORMS = {
    "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
    "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To", "v": "Via",
    "r": "Refer-To", "b": "Referred-By", "o": "Event", "u": "Allow-Events", "x": "Session-Expires",
    "a": "Accept-Contact", "j": "Reject-Contact", "d": "Request-Disposition", "y": "Identity",
    "n": "Identity-Info",
}
_SPECIAL_CASE = {
    "call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate", "mime-version": "MIME-Version",
    "rack": "RAck", "rseq": "RSeq", "sip-etag": "SIP-ETag", "sip-if-match": "SIP-If-Match",
}
_TOKEN_RE = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_STATUS_LINE_RE = re.compile(r"^SIP/2\.0 ([1-6]\d\d)(?: (.*))?$")
_VIA_RE = re.compile(r"^\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+(\S.*)$", re.IGNORECASE | re.DOTALL)
_REQUEST_LINE_RE = re.compile(r"^([A-Za-z0-9\-.!%*_+`'~]+) (\S+) SIP/2\.0$")


class SipParseError(ValueError):
    """A datagram that is not a valid SIP message; ``partial`` holds what could be read (for a 400)."""

    def __init__(self, message: str, partial: "SipMessage | None" = None) -> None:
        super().__init__(message)
        self.partial = partial


def canonical_name(name: str) -> str:
    """Expand compact forms and normalise the case of a header name ("call-id" -> "Call-ID")."""
    lower = name.strip().lower()
    if lower in COMPACT_FORMS:
        return COMPACT_FORMS[lower]
    if lower in _SPECIAL_CASE:
        return _SPECIAL_CASE[lower]
    return "-".join(part.capitalize() for part in lower.split("-"))


def split_values(value: str) -> list[str]:
    """Split a header value on commas outside quotes and angle brackets."""
    parts: list[str] = []
    depth_angle = 0
    in_quote = False
    escaped = False
    start = 0
    for i, ch in enumerate(value):
        if escaped:
            escaped = False
            continue
        if in_quote:
            if ch == "\\":
                escaped = True
            elif ch == '"':
                in_quote = False
            continue
        if ch == '"':
            in_quote = True
        elif ch == "<":
            depth_angle += 1
        elif ch == ">":
            depth_angle = max(0, depth_angle - 1)
        elif ch == "," and depth_angle == 0:
            parts.append(value[start:i].strip())
            start = i + 1
    parts.append(value[start:].strip())
    return [p for p in parts if p]


def new_branch() -> str:
    """A fresh RFC 3261 branch id (magic cookie + random)."""
    return "z9hG4bK" + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


@dataclass
class SipMessage:
    """A request (``method`` set) or a response (``status`` set); headers keep wire order."""

    method: str | None = None
    uri: str | None = None
    status: int | None = None
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return self.method is not None

    # -- header access ------------------------------------------------------------------------
    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of a header (first comma-separated value for multi-value headers)."""
        values = self.get_all(name)
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """All values of a header, in order, comma-separated values split for list headers."""
        key = canonical_name(name)
        out: list[str] = []
        for hname, hvalue in self.headers:
            if hname == key:
                out.extend(split_values(hvalue) if key in MULTI_VALUE_HEADERS else [hvalue])
        return out

    def set(self, name: str, value: str) -> None:
        """Replace every value of a header with one value (kept at the first one's position)."""
        key = canonical_name(name)
        for i, (hname, _) in enumerate(self.headers):
            if hname == key:
                self.headers[i] = (key, value)
                self.headers = [h for j, h in enumerate(self.headers) if j == i or h[0] != key]
                return
        self.headers.append((key, value))

    def add(self, name: str, value: str) -> None:
        self.headers.append((canonical_name(name), value))

    def remove(self, name: str) -> None:
        key = canonical_name(name)
        self.headers = [h for h in self.headers if h[0] != key]

    # -- frequently used fields ---------------------------------------------------------------
    @property
    def call_id(self) -> str:
        return self.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        """(number, method) of the CSeq header; validated by ``parse_message``."""
        number, method = (self.get("CSeq") or "0 ?").split(None, 1)
        return int(number), method.strip()

    @property
    def top_via(self) -> "Via":
        return Via.parse(self.get("Via") or "")

    def serialize(self) -> bytes:
        """Wire form; Content-Length is always written from the actual body."""
        if self.is_request:
            start = f"{self.method} {self.uri} {SIP_VERSION}"
        else:
            start = f"{SIP_VERSION} {self.status} {self.reason}"
        lines = [start]
        lines.extend(f"{n}: {v}" for n, v in self.headers if n != "Content-Length")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body

    def __str__(self) -> str:  # short form for logs
        if self.is_request:
            return f"{self.method} {self.uri}"
        return f"{self.status} {self.reason}"


def parse_message(data: bytes, max_size: int = DEFAULT_MAX_MESSAGE_BYTES) -> SipMessage:
    """Parse one datagram; raise ``SipParseError`` with a precise reason on any defect."""
    if len(data) > max_size:
        raise SipParseError(f"message of {len(data)} bytes exceeds the {max_size}-byte limit")
    if not data.strip(b"\r\n\t "):
        raise SipParseError("empty message (keep-alive)")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    if not sep:
        raise SipParseError("no blank line between headers and body")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"header section is not UTF-8 (byte {exc.start})") from None
    lines = text.lstrip("\r\n").replace("\r\n", "\n").split("\n")
    try:
        msg = _parse_start_line(lines[0].rstrip("\r"))
    except SipParseError as exc:
        partial = _loose_request_line(lines[0])  # keep the headers: the request can still get its 400/505
        if partial is not None:
            with contextlib.suppress(SipParseError):
                _parse_headers(lines[1:], partial)
        raise SipParseError(str(exc), partial) from None
    _parse_headers(lines[1:], msg)
    _check_required(msg)
    length_text = msg.get("Content-Length")
    if length_text is not None:
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError
        except ValueError:
            raise SipParseError(f"bad Content-Length {length_text!r}", msg) from None
        if length > len(body):
            raise SipParseError(f"Content-Length {length} exceeds the {len(body)}-byte body", msg)
        body = body[:length]
    msg.body = body
    return msg


def _loose_request_line(line: str) -> SipMessage | None:
    """A request line read leniently (extra spaces, spaces in the URI, another version), or None."""
    parts = line.split()
    if len(parts) < 3 or not _TOKEN_RE.match(parts[0]) or not parts[-1].upper().startswith("SIP/"):
        return None
    return SipMessage(method=parts[0].upper(), uri=parts[1])


def _parse_start_line(line: str) -> SipMessage:
    if line.startswith("SIP/"):
        m = _STATUS_LINE_RE.match(line)
        if not m:
            raise SipParseError(f"bad status line {line[:80]!r}")
        return SipMessage(status=int(m.group(1)), reason=m.group(2) or "")
    m = _REQUEST_LINE_RE.match(line)
    if not m:
        version = line.rsplit(" ", 1)[-1]
        if version.upper().startswith("SIP/") and version != SIP_VERSION:
            raise SipParseError(f"unsupported SIP version {version[:20]!r}")
        raise SipParseError(f"bad request line {line[:80]!r}")
    uri = m.group(2)
    if ":" not in uri:
        raise SipParseError(f"bad Request-URI {uri[:80]!r}")
    return SipMessage(method=m.group(1).upper(), uri=uri)


def _parse_headers(lines: list[str], msg: SipMessage) -> None:
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            continue
        if line[0] in " \t":  # folded continuation (RFC 3261 section 7.3.1)
            if not msg.headers:
                raise SipParseError("continuation line before any header", msg)
            name, value = msg.headers[-1]
            msg.headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name or not _TOKEN_RE.match(name):
            raise SipParseError(f"bad header line {line[:80]!r}", msg)
        msg.headers.append((canonical_name(name), value.strip()))


def _check_required(msg: SipMessage) -> None:
    for name in REQUIRED_HEADERS:
        if msg.get(name) is None:
            raise SipParseError(f"missing {name} header", msg)
    for name in SINGLE_HEADERS:
        if sum(1 for n, _ in msg.headers if n == name) > 1:
            raise SipParseError(f"{name} header given more than once", msg)
    for name in ("From", "To"):
        if _unbalanced_quotes(msg.get(name) or ""):
            raise SipParseError(f"unterminated quoted string in {name}", msg)
    parts = (msg.get("CSeq") or "").split()
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10 or not _TOKEN_RE.match(parts[1]):
        raise SipParseError(f"bad CSeq {msg.get('CSeq')!r}", msg)
    if msg.is_request and parts[1].upper() != msg.method:
        raise SipParseError(f"CSeq method {parts[1]} does not match {msg.method}", msg)
    try:
        Via.parse(msg.get("Via") or "")
    except SipParseError as exc:
        raise SipParseError(str(exc), msg) from None


def _unbalanced_quotes(value: str) -> bool:
    """True when a quoted string is left open (backslash escapes honoured)."""
    inside, escaped = False, False
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\" and inside:
            escaped = True
        elif ch == '"':
            inside = not inside
    return inside


# -- structured header values ---------------------------------------------------------------------
def parse_params(text: str) -> dict[str, str]:
    """``;a=1;b`` -> {"a": "1", "b": ""} (names lower-cased)."""
    params: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, _, value = part.partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    return params


def format_params(params: dict[str, str]) -> str:
    return "".join(f";{k}={v}" if v != "" else f";{k}" for k, v in params.items())


def split_host_port(text: str, default_port: int | None = 5060) -> tuple[str, int | None]:
    """"host:port", "[v6]:port", "host" -> (host without brackets, port)."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"bad IPv6 reference {text[:80]!r}")
        host, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise SipParseError(f"bad host:port {text[:80]!r}")
        port_text = rest[1:]
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise SipParseError(f"empty host in {text[:80]!r}")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SipParseError(f"bad port in {text[:80]!r}")
    return host, int(port_text)


def format_host(host: str) -> str:
    """Bracket IPv6 literals for use in URIs and Via."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclass
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=..;rport``."""

    transport: str
    host: str
    port: int | None
    params: dict[str, str]

    @classmethod
    def parse(cls, value: str) -> "Via":
        m = _VIA_RE.match(value)  # linear white space around the slashes is legal (RFC 4475 3.1.1.1)
        if not m:
            raise SipParseError(f"bad Via {value[:80]!r}")
        sent_by, _, params = m.group(2).strip().partition(";")
        if params and any(not p.strip() for p in params.split(";")):
            raise SipParseError(f"empty Via parameter in {value[:80]!r}")
        host, port = split_host_port(sent_by, None)
        if not host:
            raise SipParseError(f"bad Via {value[:80]!r}")
        return cls(m.group(1).upper(), host, port, parse_params(params))

    @property
    def branch(self) -> str:
        return self.params.get("branch", "")

    def __str__(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"SIP/2.0/{self.transport} {format_host(self.host)}{port}{format_params(self.params)}"


@dataclass
class SipUri:
    """``sip:user@host:port;params`` (enough for routing; no headers part)."""

    scheme: str
    user: str
    host: str
    port: int | None
    params: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> "SipUri":
        text = text.strip()
        if text.startswith("<") and text.endswith(">"):
            text = text[1:-1]
        scheme, colon, rest = text.partition(":")
        if not colon or scheme.lower() not in ("sip", "sips", "tel"):
            raise SipParseError(f"bad SIP URI {text[:80]!r}")
        rest = rest.split("?", 1)[0]
        user = ""
        if "@" in rest:
            user, _, rest = rest.rpartition("@")
        hostport, _, params = rest.partition(";")
        host, port = split_host_port(hostport, None)
        return cls(scheme.lower(), user, host, port, parse_params(params))

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}:{user}{format_host(self.host)}{port}{format_params(self.params)}"


@dataclass
class NameAddr:
    """From/To/Contact/Route value: optional display name, URI in <>, header parameters."""

    display: str
    uri: str
    params: dict[str, str]

    @classmethod
    def parse(cls, value: str) -> "NameAddr":
        value = value.strip()
        lt = value.find("<")
        if lt >= 0:
            gt = value.find(">", lt)
            if gt < 0:
                raise SipParseError(f"unclosed '<' in {value[:80]!r}")
            return cls(value[:lt].strip().strip('"'), value[lt + 1:gt], parse_params(value[gt + 1:]))
        uri, _, params = value.partition(";")  # addr-spec form: params belong to the header
        return cls("", uri.strip(), parse_params(params))

    @property
    def tag(self) -> str:
        return self.params.get("tag", "")

    def __str__(self) -> str:
        display = f'"{self.display}" ' if self.display else ""
        return f"{display}<{self.uri}>{format_params(self.params)}"


def make_response(request: SipMessage, status: int, reason: str, *, to_tag: str | None = None,
                  headers: list[tuple[str, str]] | None = None, body: bytes = b"",
                  content_type: str | None = None) -> SipMessage:
    """A response that copies Via, From, To (adding ``to_tag`` if none), Call-ID and CSeq."""
    resp = SipMessage(status=status, reason=reason)
    for value in request.get_all("Via"):
        resp.add("Via", value)
    resp.add("From", request.get("From") or "")
    to = request.get("To") or ""
    if to_tag and ";tag=" not in to.replace(" ", "").lower():
        to = f"{to};tag={to_tag}"
    resp.add("To", to)
    resp.add("Call-ID", request.call_id)
    resp.add("CSeq", request.get("CSeq") or "")
    for name, value in headers or []:
        resp.add(name, value)
    if body:
        resp.add("Content-Type", content_type or "application/sdp")
    resp.body = body
    return resp

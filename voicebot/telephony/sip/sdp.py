"""SDP offer/answer for one audio stream (RFC 4566, RFC 3264, RFC 4733 telephone-event).

We only ever answer: pick PCMU, else PCMA, keep the caller's telephone-event payload type, ptime 20.
No common codec raises ``NoCommonCodec`` (the endpoint answers 488).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field

PCMU_PAYLOAD_TYPE = 0
PCMA_PAYLOAD_TYPE = 8
G711_CLOCK_RATE = 8000
PTIME_MS = 20
STATIC_PAYLOAD_TYPES = {PCMU_PAYLOAD_TYPE: "PCMU", PCMA_PAYLOAD_TYPE: "PCMA"}
CODEC_PREFERENCE = ("PCMU", "PCMA")
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
MAX_SDP_LINES = 200


class SdpError(ValueError):
    """An SDP body we cannot read."""


class NoCommonCodec(SdpError):
    """The offer has no PCMU/PCMA audio stream (answer 488)."""


@dataclass
class MediaDescription:
    """One m= section of an SDP body."""

    media: str
    port: int
    proto: str
    formats: list[int]
    rtpmap: dict[int, str] = field(default_factory=dict)  # pt -> "PCMU/8000"
    fmtp: dict[int, str] = field(default_factory=dict)
    attributes: list[str] = field(default_factory=list)
    connection: str | None = None
    direction: str | None = None
    ptime: int | None = None

    def codec_name(self, pt: int) -> str:
        """Encoding name of a payload type (rtpmap first, then the static table), upper-case."""
        if pt in self.rtpmap:
            return self.rtpmap[pt].split("/")[0].upper()
        return STATIC_PAYLOAD_TYPES.get(pt, "")

    def clock_rate(self, pt: int) -> int:
        if pt in self.rtpmap:
            parts = self.rtpmap[pt].split("/")
            if len(parts) > 1 and parts[1].isdigit():
                return int(parts[1])
        return G711_CLOCK_RATE


@dataclass
class SessionDescription:
    """A parsed SDP body (RFC 4566): what the offer or answer says."""

    origin: str = ""
    connection: str | None = None
    media: list[MediaDescription] = field(default_factory=list)
    direction: str | None = None

    def audio(self) -> MediaDescription | None:
        return next((m for m in self.media if m.media == "audio"), None)


def parse_sdp(body: bytes | str) -> SessionDescription:
    """Parse an SDP body; raise ``SdpError`` naming the first bad line."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise SdpError("SDP is not UTF-8") from None
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").split("\n") if ln.strip()]
    if not lines or not lines[0].startswith("v="):
        raise SdpError("SDP must start with v=")
    if len(lines) > MAX_SDP_LINES:
        raise SdpError(f"SDP has more than {MAX_SDP_LINES} lines")
    sd = SessionDescription()
    current: MediaDescription | None = None
    for line in lines:
        if len(line) < 2 or line[1] != "=":
            raise SdpError(f"bad SDP line {line[:60]!r}")
        kind, value = line[0], line[2:]
        if kind == "o":
            sd.origin = value
        elif kind == "c":
            address = _parse_connection(value)
            if current is None:
                sd.connection = address
            else:
                current.connection = address
        elif kind == "m":
            current = _parse_media(value)
            sd.media.append(current)
        elif kind == "a":
            _apply_attribute(value, sd, current)
    return sd


def _parse_connection(value: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"bad c= line {value[:60]!r}")
    return parts[2].split("/")[0]


def _parse_media(value: str) -> MediaDescription:
    parts = value.split()
    if len(parts) < 4:
        raise SdpError(f"bad m= line {value[:60]!r}")
    port_text = parts[1].split("/")[0]
    if not port_text.isdigit() or int(port_text) > 65535:
        raise SdpError(f"bad media port {parts[1][:20]!r}")
    formats = [int(f) for f in parts[3:] if f.isdigit() and int(f) < 128]
    return MediaDescription(parts[0], int(port_text), parts[2], formats)


def _apply_attribute(value: str, sd: SessionDescription, current: MediaDescription | None) -> None:
    name, _, arg = value.partition(":")
    if name in DIRECTIONS:
        if current is None:
            sd.direction = name
        else:
            current.direction = name
        return
    if current is None:
        return
    current.attributes.append(value)
    if name in ("rtpmap", "fmtp"):
        pt_text, _, rest = arg.partition(" ")
        if not pt_text.isdigit():
            raise SdpError(f"bad a={name} payload type {pt_text[:10]!r}")
        (current.rtpmap if name == "rtpmap" else current.fmtp)[int(pt_text)] = rest.strip()
    elif name == "ptime" and arg.strip().isdigit():
        current.ptime = int(arg.strip())


@dataclass(frozen=True)
class NegotiatedMedia:
    """What both sides agreed: where to send, which codec, which DTMF payload type."""

    remote_host: str
    remote_port: int
    payload_type: int
    codec: str  # "PCMU" | "PCMA"
    dtmf_payload_type: int | None
    direction: str  # direction the caller asked for


def negotiate(offer: SessionDescription) -> NegotiatedMedia:
    """Choose PCMU then PCMA (in our order, not the caller's) and telephone-event/8000."""
    audio = offer.audio()
    if audio is None or audio.port == 0:
        raise NoCommonCodec("no active audio stream in the offer")
    if audio.proto.upper() not in ("RTP/AVP", "RTP/AVPF"):
        raise NoCommonCodec(f"unsupported media transport {audio.proto}")
    chosen: tuple[int, str] | None = None
    for wanted in CODEC_PREFERENCE:
        for pt in audio.formats:
            if audio.codec_name(pt) == wanted and audio.clock_rate(pt) == G711_CLOCK_RATE:
                chosen = (pt, wanted)
                break
        if chosen:
            break
    if chosen is None:
        names = ", ".join(audio.codec_name(pt) or str(pt) for pt in audio.formats)
        raise NoCommonCodec(f"no common codec (offered: {names}; we accept PCMU, PCMA)")
    dtmf = next((pt for pt in audio.formats if audio.codec_name(pt) == "TELEPHONE-EVENT"
                 and audio.clock_rate(pt) == G711_CLOCK_RATE), None)
    host = audio.connection or offer.connection
    if not host:
        raise SdpError("no c= connection address")
    try:  # a name would be resolved by a blocking DNS lookup for every RTP packet: refuse it (488)
        ipaddress.ip_address(host)
    except ValueError:
        raise SdpError(f"c= address {host[:60]!r} is not an IP address") from None
    direction = audio.direction or offer.direction or "sendrecv"
    return NegotiatedMedia(host, audio.port, chosen[0], chosen[1], dtmf, direction)


def answer_direction(offered: str) -> str:
    return {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}.get(offered, "sendrecv")


def build_answer(media: NegotiatedMedia, local_host: str, local_port: int, session_id: int | None = None,
                 direction: str | None = None) -> bytes:
    """The SDP answer: one audio stream, the chosen codec, telephone-event if offered, ptime 20."""
    sid = session_id if session_id is not None else int(time.time())
    ip_kind = "IP6" if ":" in local_host else "IP4"
    formats = [media.payload_type] + ([media.dtmf_payload_type] if media.dtmf_payload_type is not None else [])
    lines = [
        "v=0",
        f"o=voicebot {sid} {sid} IN {ip_kind} {local_host}",
        "s=voicebot",
        f"c=IN {ip_kind} {local_host}",
        "t=0 0",
        f"m=audio {local_port} RTP/AVP {' '.join(str(f) for f in formats)}",
        f"a=rtpmap:{media.payload_type} {media.codec}/{G711_CLOCK_RATE}",
    ]
    if media.dtmf_payload_type is not None:
        lines.append(f"a=rtpmap:{media.dtmf_payload_type} telephone-event/{G711_CLOCK_RATE}")
        lines.append(f"a=fmtp:{media.dtmf_payload_type} 0-15")
    lines.append(f"a=ptime:{PTIME_MS}")
    lines.append(f"a={direction or answer_direction(media.direction)}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def is_hold(media: NegotiatedMedia) -> bool:
    """A re-INVITE that puts us on hold (RFC 3264 section 8.4, or the old 0.0.0.0 form)."""
    return media.direction in ("sendonly", "inactive") or media.remote_host in ("0.0.0.0", "::")

"""The asyncio SIP user agent server: answers calls, runs one ``on_call`` per call, hangs up, transfers.

One UDP socket serves every call. Each datagram is checked (size, per-source rate, allowed source)
before it is parsed; a bad one gets 400 (or is dropped when unreadable) and touches no call.
Each call owns its dialog, INVITE transaction and RTP session (``SipCall``). Once a call is answered the
user agent hands the ``SipCall`` upward through ``on_answered`` (``telephony.sip_transport`` turns it into a
pipecat transport and a ``CallSession``), and when that returns we send BYE. This module knows nothing of
pipecat, of the pipeline or of call events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..settings import SipSettings
from .auth import DigestAuthenticator
from .dialog import Dialog
from .limits import CallLimiter, LogLimiter, RateLimiter, SourceFilter, is_ip_literal
from .message import (NameAddr, SipMessage, SipParseError, Via, format_host, make_response, new_tag,
                      parse_message)
from .refer import TransferAttempt
from .sdp import NegotiatedMedia, SdpError, build_answer, is_hold, negotiate, parse_sdp
from .transaction import (ClientTransaction, InviteServerTransaction, NonInviteServerTransaction, Timers,
                          server_key)
from ..rtp.session import RtpConfig, RtpSession

if TYPE_CHECKING:
    from ..capacity import SipCapacity

log = logging.getLogger(__name__)

ALLOWED_METHODS = "INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY"
SUPPORTED_EXTENSIONS = frozenset({"replaces", "norefersub", "timer"})
_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
CALL_TASK_GRACE_S = 5.0
STOP_TIMEOUT_S = 5.0  # shutdown does not wait 64*T1 for peers that do not answer our BYE  # how long on_call may run after the call ended before it is cancelled
Address = tuple[str, int]
OnAnswered = Callable[["SipCall"], Awaitable[None]]
OnEnded = Callable[[str], Awaitable[None]]


@dataclass
class SipCall:
    """One call as the endpoint sees it."""

    call_id: str
    invite: SipMessage
    source: Address
    invite_tx: InviteServerTransaction
    dialog: Dialog
    media: NegotiatedMedia
    rtp: RtpSession
    answer_sdp: bytes = b""
    state: str = "ringing"  # ringing | answered | ended
    end_reason: str = ""
    started_at: float = field(default_factory=time.time)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    on_ended: OnEnded | None = None  # told why the call ended (either side), set by whoever runs the call
    task: asyncio.Task | None = None
    transfer: TransferAttempt | None = None
    reinvite_tx: InviteServerTransaction | None = None
    # The id the rest of voicebot knows this call by (store, bus, monitor): ours, never the caller's
    # Call-ID, so a reused or hostile Call-ID cannot reach another call's record.
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    @property
    def caller(self) -> str:
        return NameAddr.parse(self.invite.get("From") or "").uri


class SipUserAgent(asyncio.DatagramProtocol):
    """The SIP user agent server of one worker: every call it answers goes to ``on_answered``."""

    def __init__(self, settings: SipSettings, on_answered: OnAnswered, *, timers: Timers | None = None) -> None:
        self.settings = settings
        self.on_answered = on_answered
        self.timers = timers or Timers(settings.t1_s, settings.t2_s)
        self.calls: dict[str, SipCall] = {}
        self.source_filter = SourceFilter(settings.allowed_cidrs)
        self.rate_limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
        self.call_limiter: CallLimiter | SipCapacity = CallLimiter(settings.max_calls, settings.retry_after_s)
        self.authenticator = (DigestAuthenticator(settings.digest_realm, settings.digest_users,
                                                  tuple(settings.digest_algorithms))
                              if settings.digest_users else None)
        self.stats = {"dropped_oversized": 0, "dropped_rate": 0, "dropped_unparseable": 0, "bad_request": 0,
                      "forbidden": 0, "calls": 0}
        self._invite_txs: dict[tuple, InviteServerTransaction] = {}
        self._server_txs: dict[tuple, NonInviteServerTransaction] = {}
        self._log_limiter = LogLimiter(settings.log_interval_s)
        self._client_txs: dict[str, ClientTransaction] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task] = set()
        self.port = settings.port
        self.draining = False  # the worker drains: INVITE and OPTIONS get 503, dialogs go on

    # -- life cycle --------------------------------------------------------------------------
    @property
    def public_host(self) -> str:
        return self.settings.public_host or self.settings.host

    async def start(self) -> None:
        if self.public_host in ("0.0.0.0", "::", ""):
            raise ValueError(f"sip.host is {self.settings.host!r}: set sip.public_host to the address callers reach "
                             "(it goes into Contact, Via and SDP)")
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(self.settings.host, self.settings.port))
        assert self._transport is not None
        self.port = self._transport.get_extra_info("sockname")[1]
        log.info("sip endpoint listening", extra={"sip_host": self.settings.host, "sip_port": self.port})

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Hang up every call (BYE, waiting at most ``timeout_s`` for answers), then close the socket."""
        calls = list(self.calls.values())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(self.hangup(c, "shutdown") for c in calls),
                                                  return_exceptions=True), timeout_s)
        for call in calls:
            await self._finish(call, "shutdown", force=True)
        for task in list(self._tasks):
            task.cancel()
        if self._transport:
            self._transport.close()
            self._transport = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _send(self, data: bytes, addr: Address) -> None:
        # A host name here would be resolved by a blocking getaddrinfo() inside the event loop:
        # every destination must already be an IP address (see _response_addr, send_in_dialog).
        if not is_ip_literal(addr[0]):
            log.warning("sip message not sent: destination %r is not an IP address", addr[0][:80])
            return
        if self._transport is not None:
            self._transport.sendto(data, addr)

    def _log_per_source(self, source: str, what: str, msg: str, *args: Any, **extra: Any) -> None:
        """At most one line per (source, kind) per log_interval_s, with the count of lines held back."""
        suppressed = self._log_limiter.allow((source, what))
        if suppressed is not None:
            log.warning(msg + " (%d more from this source since the last line)", *args, suppressed,
                        extra={"source": source, **extra})

    # -- receiving ---------------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr: tuple) -> None:
        addr = (addr[0], addr[1])
        if len(data) > self.settings.max_message_bytes:
            self.stats["dropped_oversized"] += 1
            self._log_per_source(addr[0], "oversized", "sip message dropped: %d bytes over the %d-byte limit",
                                 len(data), self.settings.max_message_bytes)
            return
        if not data.strip(b"\r\n\t \x00"):
            return  # RFC 5626 keep-alive
        if not self.rate_limiter.allow(addr[0]):
            self.stats["dropped_rate"] += 1
            self._log_per_source(addr[0], "rate", "sip messages dropped: over the per-source rate limit")
            return
        try:
            msg = parse_message(data, self.settings.max_message_bytes)
        except SipParseError as exc:
            self._reject_unparseable(exc, addr)
            return
        try:
            if msg.is_request:
                self._handle_request(msg, addr)
            else:
                self._handle_response(msg)
        except SipParseError as exc:
            if msg.is_request and msg.method != "ACK":
                self.stats["bad_request"] += 1
                self._reply_stateless(msg, addr, 400, _reason_phrase(str(exc)))
        except Exception:
            log.exception("sip message handling failed", extra={"call_id": msg.call_id})

    def _reject_unparseable(self, exc: SipParseError, addr: Address) -> None:
        partial = exc.partial if self.source_filter.allows(addr[0]) else None  # strangers get no answer
        if partial is not None and partial.is_request and partial.method != "ACK":
            try:
                _ = partial.top_via  # raises SipParseError when the Via cannot be parsed
                if all(partial.get(h) for h in ("From", "To", "Call-ID", "CSeq")):
                    self.stats["bad_request"] += 1
                    status = 505 if str(exc).startswith("unsupported SIP version") else 400
                    self._log_per_source(addr[0], "400", "sip %d: %s", status, _reason_phrase(str(exc)))
                    self._reply_stateless(partial, addr, status, _reason_phrase(str(exc)))
                    return
            except SipParseError:
                pass
        self.stats["dropped_unparseable"] += 1
        self._log_per_source(addr[0], "unparseable", "sip message dropped: %s", _reason_phrase(str(exc)))

    def _reply_stateless(self, request: SipMessage, addr: Address, status: int, reason: str,
                         headers: list[tuple[str, str]] | None = None) -> None:
        self._stamp_via(request, addr)
        resp = make_response(request, status, reason, to_tag=new_tag() if status > 100 else None,
                             headers=self._common_headers() + (headers or []))
        self._send(resp.serialize(), self._response_addr(request, addr))

    def _common_headers(self) -> list[tuple[str, str]]:
        return [("Server", self.settings.user_agent)]

    @staticmethod
    def _stamp_via(request: SipMessage, addr: Address) -> None:
        """Write received= and rport= in the top Via from the datagram itself (RFC 3261 18.2.1, RFC 3581).

        A received= the sender wrote is never kept: it would let one datagram aim our replies anywhere.
        """
        vias = request.get_all("Via")
        if not vias:
            return
        top = Via.parse(vias[0])
        top.params.pop("received", None)
        if top.host != addr[0]:
            top.params["received"] = addr[0]
        if "rport" in top.params:
            top.params["rport"] = str(addr[1])
            top.params["received"] = addr[0]
        request.remove("Via")
        request.add("Via", str(top))
        for v in vias[1:]:
            request.add("Via", v)

    @staticmethod
    def _response_addr(request: SipMessage, addr: Address) -> Address:
        """Responses go back where the request came from (RFC 3581 symmetric response routing).

        Never the Via host (a name would need a blocking DNS lookup, an address could be anyone's).
        """
        return addr

    def _handle_response(self, resp: SipMessage) -> None:
        tx = self._client_txs.get(resp.top_via.branch)  # our own branch: unique, made by us
        if tx is not None:
            tx.on_response(resp)

    def _handle_request(self, req: SipMessage, addr: Address) -> None:
        method = req.method or ""
        if not self.source_filter.allows(addr[0]):
            self.stats["forbidden"] += 1
            self._log_per_source(addr[0], "forbidden", "sip %s refused: source %s not allowed", method[:20], addr[0])
            if method != "ACK":
                self._reply_stateless(req, addr, 403, "Forbidden")
            return
        self._stamp_via(req, addr)
        if method == "ACK":
            self._on_ack(req)
            return
        if method == "INVITE":
            self._on_invite(req, addr)
            return
        key = server_key(req)
        tx = self._server_txs.get(key)
        if tx is not None:
            tx.on_retransmitted_request()
            return
        tx = NonInviteServerTransaction(req, self._response_addr(req, addr), self._send, self.timers,
                                        on_terminated=lambda: self._server_txs.pop(key, None))
        self._server_txs[key] = tx
        refusal = self._unsupported(req) if method != "CANCEL" else None
        if refusal is not None:
            tx.respond(self._response(req, refusal[0], refusal[1], refusal[2], to_tag=new_tag()))
            return
        handler = {"BYE": self._on_bye, "CANCEL": self._on_cancel, "OPTIONS": self._on_options,
                   "NOTIFY": self._on_notify}.get(method)
        if handler is not None:
            handler(req, tx)
        else:  # REFER from the caller, SUBSCRIBE, MESSAGE, INFO, ...: not ours to do
            tx.respond(self._response(req, 501, "Not Implemented", [("Allow", ALLOWED_METHODS)]))

    @staticmethod
    def _unsupported(req: SipMessage) -> tuple[int, str, list[tuple[str, str]]] | None:
        """The refusal to send before any method is handled, or None (RFC 3261 8.2.2-8.2.3).

        URI scheme (416), Require (420) and body type (415).
        """
        scheme = (req.uri or "").split(":", 1)[0].lower()
        refusal: tuple[int, str, list[tuple[str, str]]] | None = None
        unsupported = [r for r in (x.strip().lower() for x in ",".join(req.get_all("Require")).split(",") if x.strip())
                       if r not in SUPPORTED_EXTENSIONS]
        content_type = (req.get("Content-Type") or "").split(";")[0].strip().lower()
        if not _URI_RE.match(req.uri or ""):  # e.g. a Request-URI between < and > (RFC 4475 3.1.2.6)
            refusal = (400, "Bad Request-URI", [])
        elif scheme not in ("sip", "sips", "tel"):
            refusal = (416, "Unsupported URI Scheme", [])
        elif unsupported:
            refusal = (420, "Bad Extension", [("Unsupported", ", ".join(unsupported))])
        elif req.body and content_type != "application/sdp" and req.method in ("INVITE", "OPTIONS"):
            refusal = (415, "Unsupported Media Type", [("Accept", "application/sdp")])
        return refusal

    def _response(self, req: SipMessage, status: int, reason: str, headers: list[tuple[str, str]] | None = None,
                  body: bytes = b"", to_tag: str | None = None, content_type: str | None = None) -> SipMessage:
        return make_response(req, status, reason, to_tag=to_tag, headers=self._common_headers() + (headers or []),
                             body=body, content_type=content_type)

    def _find_call(self, req: SipMessage) -> SipCall | None:
        call = self.calls.get(req.call_id)
        if call is None:
            return None
        to_tag = NameAddr.parse(req.get("To") or "").tag
        from_tag = NameAddr.parse(req.get("From") or "").tag
        if to_tag != call.dialog.local_tag or from_tag != call.dialog.remote_tag:
            return None
        return call

    # -- INVITE ------------------------------------------------------------------------------
    def _on_invite(self, req: SipMessage, addr: Address) -> None:
        key = server_key(req)  # RFC 3261 17.2.3: branch + sent-by + method (RFC 2543 rules without cookie)
        existing = self._invite_txs.get(key)
        if existing is not None:
            existing.on_retransmitted_request()
            return
        reply_to = self._response_addr(req, addr)
        tx = InviteServerTransaction(req, reply_to, self._send, self.timers,
                                     on_terminated=lambda: self._invite_txs.pop(key, None),
                                     ack_timeout_s=self.settings.ack_timeout_s)
        self._invite_txs[key] = tx
        tx.trying()
        refusal = self._unsupported(req)
        if refusal is not None:
            tx.respond(self._response(req, refusal[0], refusal[1], refusal[2], to_tag=new_tag()))
            return
        if NameAddr.parse(req.get("To") or "").tag:
            self._on_reinvite(req, tx)
            return
        if req.call_id in self.calls:
            tx.respond(self._response(req, 482, "Loop Detected", to_tag=new_tag()))
            return
        if self.authenticator is not None and not self.authenticator.verify(req):
            tx.respond(self._response(req, 401, "Unauthorized", self.authenticator.challenge_headers(),
                                      to_tag=new_tag()))
            return
        if self.draining:
            log.info("sip 503: draining", extra={"call_id": req.call_id})
            tx.respond(self._response(req, 503, "Service Unavailable",
                                      [("Retry-After", str(self.call_limiter.retry_after_s))], to_tag=new_tag()))
            return
        if not self.call_limiter.try_acquire():
            log.warning("sip 503: %d calls already", self.call_limiter.active, extra={"call_id": req.call_id})
            tx.respond(self._response(req, 503, "Service Unavailable",
                                      [("Retry-After", str(self.call_limiter.retry_after_s))], to_tag=new_tag()))
            return
        try:
            media = negotiate(parse_sdp(req.body)) if req.body else None
            if media is None:
                raise SdpError("INVITE without SDP offer")
        except SdpError as exc:
            self.call_limiter.release()
            log.info("sip 488: %s", exc, extra={"call_id": req.call_id})
            tx.respond(self._response(req, 488, "Not Acceptable Here",
                                      [("Warning", f'304 {self.settings.user_agent} "{_reason_phrase(str(exc))}"')],
                                      to_tag=new_tag()))
            return
        try:
            dialog = Dialog.from_invite(req, self._contact(), new_tag())
        except SipParseError as exc:
            self.call_limiter.release()
            tx.respond(self._response(req, 400, _reason_phrase(str(exc)), to_tag=new_tag()))
            return
        rtp = RtpSession(RtpConfig(media.codec, media.payload_type, media.dtmf_payload_type,
                                   (media.remote_host, media.remote_port), self.settings.rtp_inactivity_timeout_s,
                                   self.settings.jitter_buffer_packets,
                                   latch_cidrs=tuple(self.settings.rtp_latch_cidrs)))
        call = SipCall(req.call_id, req, addr, tx, dialog, media, rtp)
        log.info("sip call ringing", extra={"call_id": call.uid})
        self.calls[call.call_id] = call
        self.stats["calls"] += 1
        self._spawn(self._answer(call), f"sip-answer-{call.call_id}")

    def _contact(self) -> str:
        return f"<sip:voicebot@{format_host(self.public_host)}:{self.port}>"

    async def _answer(self, call: SipCall) -> None:
        try:
            port = await call.rtp.open(self.settings.rtp_host or self.settings.host, self.settings.rtp_port_min,
                                       self.settings.rtp_port_max)
        except OSError as exc:
            log.error("rtp: %s", exc, extra={"call_id": call.uid})
            call.invite_tx.respond(self._response(call.invite, 503, "Service Unavailable",
                                                  [("Retry-After", "5")], to_tag=call.dialog.local_tag))
            await self._finish(call, "error")
            return
        if call.state != "ringing":  # CANCEL (or shutdown) while the RTP socket was being opened
            await call.rtp.close()
            return
        if self.settings.answer_delay_s > 0:
            call.invite_tx.respond(self._response(call.invite, 180, "Ringing", to_tag=call.dialog.local_tag,
                                                  headers=self._dialog_headers(call)))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(call.ended.wait(), self.settings.answer_delay_s)
            if call.state != "ringing":
                return  # cancelled while ringing
        call.answer_sdp = build_answer(call.media, self.public_host, port)
        call.invite_tx.on_no_ack = lambda: self._spawn(self.hangup(call, "no_ack"), "sip-no-ack")
        call.invite_tx.respond(self._response(call.invite, 200, "OK", self._dialog_headers(call),
                                              body=call.answer_sdp, to_tag=call.dialog.local_tag))
        call.state = "answered"
        call.rtp.on_timeout = lambda: self._spawn(self.hangup(call, "rtp_timeout"), "sip-rtp-timeout")
        call.rtp.start()
        log.info("sip call answered", extra={"call_id": call.uid, "codec": call.media.codec})
        call.task = self._spawn(self._run_call(call), f"sip-call-{call.uid}")

    def _dialog_headers(self, call: SipCall) -> list[tuple[str, str]]:
        headers = [("Contact", self._contact()), ("Allow", ALLOWED_METHODS), ("Supported", "replaces")]
        headers += [("Record-Route", rr) for rr in call.invite.get_all("Record-Route")]
        return headers

    async def _run_call(self, call: SipCall) -> None:
        try:
            await self.on_answered(call)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("call handler failed", extra={"call_id": call.uid})
            await self.hangup(call, "error")
            return
        if call.state != "ended":
            await self.hangup(call, "bot_hangup")

    def _on_reinvite(self, req: SipMessage, tx: InviteServerTransaction) -> None:
        call = self._find_call(req)
        if call is None or call.state == "ended":
            tx.respond(self._response(req, 481, "Call/Transaction Does Not Exist"))
            return
        if not call.dialog.accepts_cseq(req):
            tx.respond(self._response(req, 500, "Server Internal Error", [("Retry-After", "1")]))
            return
        if req.body:
            try:
                media = negotiate(parse_sdp(req.body))
            except SdpError as exc:
                tx.respond(self._response(req, 488, "Not Acceptable Here",
                                          [("Warning", f'304 {self.settings.user_agent} "{_reason_phrase(str(exc))}"')]))
                return
            call.rtp.on_hold = is_hold(media)
            if not call.rtp.on_hold and (media.remote_host, media.remote_port) != (call.media.remote_host,
                                                                                     call.media.remote_port):
                call.rtp.set_remote(media.remote_host, media.remote_port)
                call.media = media
        call.reinvite_tx = tx
        tx.respond(self._response(req, 200, "OK", self._dialog_headers(call), body=call.answer_sdp))

    def _on_ack(self, req: SipMessage) -> None:
        tx = self._invite_txs.get(server_key(req))
        if tx is not None:  # ACK of a non-2xx final response: same branch as the INVITE
            tx.on_ack()
            return
        call = self._find_call(req)
        if call is None:
            return
        for itx in (call.invite_tx, call.reinvite_tx):
            if itx is not None and itx.state == "accepted" and req.cseq[0] == itx.request.cseq[0]:
                itx.on_ack()

    # -- other requests ----------------------------------------------------------------------
    def _on_bye(self, req: SipMessage, tx: NonInviteServerTransaction) -> None:
        call = self._find_call(req)
        if call is None or call.state == "ended":
            tx.respond(self._response(req, 481, "Call/Transaction Does Not Exist"))
            return
        if not call.dialog.accepts_cseq(req):
            tx.respond(self._response(req, 500, "Server Internal Error"))
            return
        tx.respond(self._response(req, 200, "OK"))
        log.info("sip caller hung up", extra={"call_id": call.uid})
        self._spawn(self._finish(call, "caller_hangup"), "sip-finish")

    def _on_cancel(self, req: SipMessage, tx: NonInviteServerTransaction) -> None:
        invite_tx = self._invite_txs.get(server_key(req, "INVITE"))  # RFC 3261 9.2: the INVITE's own transaction
        if invite_tx is None:
            tx.respond(self._response(req, 481, "Call/Transaction Does Not Exist"))
            return
        tx.respond(self._response(req, 200, "OK"))
        if invite_tx.state != "proceeding":
            return  # already answered: CANCEL has no effect (RFC 3261 9.2), the call goes on
        call = self.calls.get(req.call_id)
        if call is not None and call.invite_tx is not invite_tx:
            call = None
        to_tag = call.dialog.local_tag if call else new_tag()
        invite_tx.respond(self._response(invite_tx.request, 487, "Request Terminated", to_tag=to_tag))
        if call is not None:
            log.info("sip call cancelled before answer", extra={"call_id": call.uid})
            call.state = "ended"  # now, not in the task below: _answer must not start the pipeline
            self._spawn(self._finish(call, "caller_hangup", force=True), "sip-finish")

    def _on_options(self, req: SipMessage, tx: NonInviteServerTransaction) -> None:
        if self.draining:  # kamailio's dispatcher marks this worker down and routes new calls elsewhere
            tx.respond(self._response(req, 503, "Service Unavailable", [("Allow", ALLOWED_METHODS)]))
            return
        tx.respond(self._response(req, 200, "OK", [("Allow", ALLOWED_METHODS), ("Accept", "application/sdp"),
                                                    ("Supported", "replaces")]))

    def _on_notify(self, req: SipMessage, tx: NonInviteServerTransaction) -> None:
        call = self._find_call(req)
        if call is None:
            tx.respond(self._response(req, 481, "Subscription Does Not Exist"))
            return
        call.dialog.accepts_cseq(req)
        tx.respond(self._response(req, 200, "OK"))
        if call.transfer is not None:
            call.transfer.on_notify(req)

    # -- requests we send --------------------------------------------------------------------
    async def send_in_dialog(self, call: SipCall, method: str, headers: list[tuple[str, str]] | None = None,
                             body: bytes = b"", content_type: str | None = None) -> SipMessage:
        req = call.dialog.create_request(method, self.public_host, self.port, headers, body, content_type)
        hop = call.dialog.next_hop()
        if not is_ip_literal(hop[0]):
            hop = call.source  # no DNS in the event loop: a named Contact/Route is reached where it spoke from
        tx = ClientTransaction(req, hop, self._send, self.timers)
        self._client_txs[tx.branch] = tx
        try:
            return await tx.run()
        finally:
            self._client_txs.pop(tx.branch, None)

    async def hangup(self, call: SipCall, reason: str) -> None:
        """End a call from our side: 603/480 while ringing, BYE once answered."""
        if call.state == "ended":
            return
        if call.state == "ringing":
            call.invite_tx.respond(self._response(call.invite, 480, "Temporarily Unavailable",
                                                  to_tag=call.dialog.local_tag))
            await self._finish(call, reason)
            return
        call.state = "ended"  # no second BYE from a concurrent path
        call.rtp.clear_audio()
        if call.invite_tx.state == "accepted" and reason != "no_ack":  # RFC 3261 15: BYE after the ACK
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(call.invite_tx.ack_received.wait(), self.settings.ack_timeout_s)
        log.info("sip bot hangs up (%s)", reason, extra={"call_id": call.uid})
        await self._finish(call, reason, force=True)  # the slot is free now, not after the BYE's 64*T1
        # shielded: the pipeline task that asked for the hang-up may be reaped while the BYE is in flight
        resp = await asyncio.shield(self._spawn(self.send_in_dialog(call, "BYE"), "sip-bye"))
        if (resp.status or 0) >= 300:
            log.info("sip BYE answered %s", resp.status, extra={"call_id": call.uid})

    async def transfer(self, call: SipCall, target: str) -> bool:
        """REFER the caller to ``target``; True once the target answered (then we BYE)."""
        if call.state != "answered" or call.transfer is not None:
            return False
        call.transfer = TransferAttempt(target)
        try:
            resp = await self.send_in_dialog(call, "REFER", [("Refer-To", f"<{target}>"),
                                                             ("Referred-By", self._contact())])
            if not 200 <= (resp.status or 0) < 300:
                log.info("sip REFER refused: %s %s", resp.status, resp.reason, extra={"call_id": call.uid})
                return False
            status = await call.transfer.wait(self.settings.transfer_timeout_s)
            log.info("sip transfer to %s: final status %s", target, status, extra={"call_id": call.uid})
            if not 200 <= status < 300:
                return False
            await self.hangup(call, "transfer")
            return True
        finally:
            call.transfer = None

    async def _finish(self, call: SipCall, reason: str, force: bool = False) -> None:
        """Release everything a call holds; tell the pipeline when the other side ended it."""
        if call.state == "ended" and not force:
            return
        call.state = "ended"
        if call.ended.is_set():
            return
        call.end_reason = reason
        call.ended.set()
        await call.rtp.close()
        self.call_limiter.release()
        self.calls.pop(call.call_id, None)
        if call.on_ended is not None:
            await call.on_ended(reason)
        if call.task is not None and not call.task.done() and call.task is not asyncio.current_task():
            self._spawn(_cancel_later(call.task, CALL_TASK_GRACE_S), "sip-call-reaper")


async def _cancel_later(task: asyncio.Task, delay: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
        await asyncio.wait_for(asyncio.shield(task), delay)
    if not task.done():
        task.cancel()


def _reason_phrase(text: str) -> str:
    """A single-line ASCII reason phrase safe to echo back."""
    clean = "".join(ch if 32 <= ord(ch) < 127 and ch != '"' else "?" for ch in text)
    return clean[:120] or "Bad Request"

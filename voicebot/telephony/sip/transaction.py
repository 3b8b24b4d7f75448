"""SIP transactions over UDP (RFC 3261 section 17) with the T1/T2 timers.

- ``InviteServerTransaction``: 100 Trying at once, retransmitted INVITEs absorbed (last response
  resent), 2xx resent until ACK (T1 doubling to T2, RFC 3261 13.3.1.4), non-2xx resent until ACK
  (timer G), give up at 64*T1 (timer H / 2xx without ACK).
- ``NonInviteServerTransaction``: the final response is kept and resent to retransmitted requests.
- ``ClientTransaction``: our own non-INVITE requests (BYE, REFER, NOTIFY replies are server side):
  resent T1 doubling to T2 until a final response, 408 at 64*T1 (timer F).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from .message import NameAddr, SipMessage, make_response

log = logging.getLogger(__name__)

Address = tuple[str, int]
SendFunc = Callable[[bytes, Address], None]
MAGIC_COOKIE = "z9hG4bK"


def server_key(request: SipMessage, method: str | None = None) -> tuple:
    """The server transaction a request belongs to (RFC 3261 17.2.3).

    With the magic cookie: branch + sent-by + method (ACK matches its INVITE; CANCEL matches the
    INVITE when ``method="INVITE"`` is asked). Without it (RFC 2543 peers): Request-URI, From tag,
    Call-ID, CSeq number and the whole top Via, so branchless callers do not collide with each other.
    """
    via = request.top_via
    m = (method or request.method or "").upper()
    if m == "ACK":
        m = "INVITE"
    sent_by = (via.host.lower(), via.port or 5060)
    if via.branch.startswith(MAGIC_COOKIE):
        return ("3261", via.branch, sent_by, m)
    from_tag = NameAddr.parse(request.get("From") or "").tag
    return ("2543", request.uri or "", from_tag, request.call_id, request.cseq[0], sent_by, via.branch, m)


@dataclass(frozen=True)
class Timers:
    """RFC 3261 timer values in seconds (tests shrink them)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    @property
    def timeout(self) -> float:
        """64*T1: timers B, F, H and the 2xx retransmission limit."""
        return 64 * self.t1


class InviteServerTransaction:
    """Server side of one INVITE; states: proceeding, accepted (2xx sent), completed, confirmed, terminated."""

    def __init__(self, request: SipMessage, addr: Address, send: SendFunc, timers: Timers,
                 on_no_ack: Callable[[], object] | None = None,
                 on_terminated: Callable[[], object] | None = None, ack_timeout_s: float | None = None) -> None:
        self.request = request
        # A 2xx without ACK gives up after this (at most 64*T1): an un-ACKed INVITE must not hold a slot long.
        self.ack_timeout_s = min(ack_timeout_s or timers.timeout, timers.timeout)
        self.addr = addr
        self.branch = request.top_via.branch
        self.state = "proceeding"
        self.last_response: SipMessage | None = None
        self.ack_received = asyncio.Event()
        self._send = send
        self._timers = timers
        self.on_no_ack = on_no_ack
        self._on_terminated = on_terminated
        self._task: asyncio.Task | None = None

    def trying(self) -> None:
        self.respond(make_response(self.request, 100, "Trying"))

    def respond(self, response: SipMessage) -> None:
        """Send a response; a final one starts the retransmission schedule."""
        if self.state not in ("proceeding",):
            return
        self.last_response = response
        self._send(response.serialize(), self.addr)
        status = response.status or 0
        if status < 200:
            return
        self.state = "accepted" if status < 300 else "completed"
        self._task = asyncio.get_running_loop().create_task(self._retransmit())

    def on_retransmitted_request(self) -> None:
        """A copy of the INVITE arrived: resend the last response (RFC 3261 17.2.1)."""
        if self.last_response is not None and self.state in ("proceeding", "accepted", "completed"):
            self._send(self.last_response.serialize(), self.addr)

    def on_ack(self) -> None:
        if self.state in ("accepted", "completed"):
            self.state = "confirmed"
            self.ack_received.set()
            if self._task:
                self._task.cancel()
            # Timer I (T4) for non-2xx absorbs ACK copies; for 2xx the dialog takes over.
            asyncio.get_running_loop().call_later(self._timers.t4 if self.last_response and
                                                  (self.last_response.status or 0) >= 300 else 0,
                                                  self._terminate)

    def cancel(self) -> None:
        if self._task:
            self._task.cancel()
        self._terminate()

    async def _retransmit(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.ack_timeout_s if self.state == "accepted" else self._timers.timeout)
        interval = self._timers.t1
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await asyncio.sleep(min(interval, remaining))
                if loop.time() >= deadline:
                    break
                if self.last_response is not None:
                    self._send(self.last_response.serialize(), self.addr)
                interval = min(interval * 2, self._timers.t2)
        except asyncio.CancelledError:
            return
        log.info("no ACK in time (timer H)")
        accepted = self.state == "accepted"
        self._terminate()
        if accepted and self.on_no_ack:
            self.on_no_ack()

    def _terminate(self) -> None:
        if self.state == "terminated":
            return
        self.state = "terminated"
        if self._on_terminated:
            self._on_terminated()


class NonInviteServerTransaction:
    """Keeps the final response for 64*T1 so retransmitted requests get the same answer."""

    def __init__(self, request: SipMessage, addr: Address, send: SendFunc, timers: Timers,
                 on_terminated: Callable[[], object] | None = None) -> None:
        self.request = request
        self.addr = addr
        self.last_response: SipMessage | None = None
        self._send = send
        self._timers = timers
        self._on_terminated = on_terminated

    def respond(self, response: SipMessage) -> None:
        if self.last_response is not None and (self.last_response.status or 0) >= 200:
            return
        self.last_response = response
        self._send(response.serialize(), self.addr)
        if (response.status or 0) >= 200 and self._on_terminated:
            asyncio.get_running_loop().call_later(self._timers.timeout, self._on_terminated)

    def on_retransmitted_request(self) -> None:
        if self.last_response is not None:
            self._send(self.last_response.serialize(), self.addr)


class ClientTransaction:
    """Our non-INVITE request: resend until a final response, 408 after 64*T1 (timer F)."""

    def __init__(self, request: SipMessage, addr: Address, send: SendFunc, timers: Timers) -> None:
        self.request = request
        self.addr = addr
        self.branch = request.top_via.branch
        self.final: asyncio.Future[SipMessage] = asyncio.get_running_loop().create_future()
        self._send = send
        self._timers = timers
        self._provisional = False

    async def run(self) -> SipMessage:
        """Send and wait; returns the final response (a synthetic 408 on timeout)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timers.timeout
        interval = self._timers.t1
        data = self.request.serialize()
        self._send(data, self.addr)
        while not self.final.done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return make_response(self.request, 408, "Request Timeout")
            try:
                return await asyncio.wait_for(asyncio.shield(self.final), min(interval, remaining))
            except asyncio.TimeoutError:
                if loop.time() < deadline:
                    self._send(data, self.addr)
                interval = self._timers.t2 if self._provisional else min(interval * 2, self._timers.t2)
        return self.final.result()

    def on_response(self, response: SipMessage) -> None:
        if (response.status or 0) < 200:
            self._provisional = True
        elif not self.final.done():
            self.final.set_result(response)

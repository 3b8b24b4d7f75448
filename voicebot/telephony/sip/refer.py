"""Blind transfer as transferor (RFC 3515 REFER, RFC 3420 message/sipfrag progress in NOTIFY).

We send REFER to the caller's UA, which answers 202 and reports the new call's progress in NOTIFYs;
a 2xx sipfrag means the agent answered (we then hang up), 3xx-6xx or no final report in time means
the transfer failed and the bot carries on with the caller.
"""

from __future__ import annotations

import asyncio
import re

from .message import SipMessage, parse_params

_SIPFRAG_STATUS_RE = re.compile(r"^SIP/2\.0 (\d{3})")


def sipfrag_status(body: bytes) -> int | None:
    """Status code of a ``message/sipfrag`` body (``SIP/2.0 200 OK``), None if absent."""
    m = _SIPFRAG_STATUS_RE.match(body.decode("utf-8", "replace").lstrip())
    return int(m.group(1)) if m else None


class TransferAttempt:
    """Collects the NOTIFYs of one REFER; ``result`` resolves to the final sipfrag status."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.progress: list[int] = []
        self.result: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def on_notify(self, notify: SipMessage) -> None:
        event = (notify.get("Event") or "").split(";")[0].strip().lower()
        if event != "refer":
            return
        status = sipfrag_status(notify.body)
        if status is not None:
            self.progress.append(status)
        state = (notify.get("Subscription-State") or "").split(";")
        terminated = state[0].strip().lower() == "terminated"
        if self.result.done():
            return
        if status is not None and status >= 200:
            self.result.set_result(status)
        elif terminated:
            reason = parse_params(";".join(state[1:])).get("reason", "")
            self.result.set_result(487 if reason else 408)

    async def wait(self, timeout_s: float) -> int:
        """Final status, or 408 when nothing final came in time."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.result), timeout_s)
        except asyncio.TimeoutError:
            return 408

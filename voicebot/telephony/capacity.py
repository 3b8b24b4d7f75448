# SPDX-License-Identifier: EUPL-1.2
"""Admission control at measured capacity, one counter for every entry of a worker (WebSocket and SIP).

Why: on a CPU worker every extra call slows every call in progress. Past the capacity measured by the
latency benchmark's concurrency sweep, a worker refuses the next call (WebSocket close 1013 "busy", SIP
503 with Retry-After) so that the load balancer or trunk sends it elsewhere, instead of degrading them all.
The gauges let an autoscaler add workers before refusals start; refusals are counted by reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import Gauge

from voicebot.metrics import CALLS_REFUSED

log = logging.getLogger(__name__)

ACTIVE = Gauge("voicebot_capacity_active_calls", "Calls in progress on this worker (all entries)")
MAX = Gauge("voicebot_capacity_max_calls", "Calls this worker takes before refusing (measured capacity)")
UTILISATION = Gauge("voicebot_capacity_utilisation", "Calls in progress / capacity (scale out near 1)")


class Capacity:
    """Counts calls in progress across entries; refuses beyond ``limit`` and counts the refusal."""

    def __init__(self, limit: int, retry_after_s: int = 5, on_refused: Callable[[str], None] | None = None):
        if limit < 1:
            raise ValueError("capacity must be at least 1 call")
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.on_refused = on_refused  # told the entry of each call refused at capacity (service figures)
        self.draining = False  # set by the worker's drain: every new call is refused
        self.active = 0
        self.by_entry: dict[str, int] = {}
        self._publish()

    def _publish(self) -> None:
        ACTIVE.set(self.active)
        MAX.set(self.limit)
        UTILISATION.set(self.active / self.limit)

    def try_enter(self, entry: str = "websocket", entry_limit: int = 0) -> bool:
        """Take a place for a call on ``entry``; False (and a refusal counted) when full."""
        if self.draining:
            return False
        full = self.active >= self.limit
        entry_full = entry_limit > 0 and self.by_entry.get(entry, 0) >= entry_limit
        if full or entry_full:
            if self.on_refused is not None:
                self.on_refused(entry)
            reason = "capacity" if full else f"{entry}_limit"
            CALLS_REFUSED.labels(reason=reason).inc()
            log.warning("call refused (%s): %d/%d calls in progress", reason, self.active, self.limit,
                        extra={"entry": entry, "active": self.active, "capacity": self.limit})
            return False
        self.active += 1
        self.by_entry[entry] = self.by_entry.get(entry, 0) + 1
        self._publish()
        return True

    def leave(self, entry: str = "websocket") -> None:
        self.active = max(0, self.active - 1)
        self.by_entry[entry] = max(0, self.by_entry.get(entry, 0) - 1)
        self._publish()

    def refusal_message(self) -> str:
        return (f"capacity reached ({self.limit} calls in progress on this worker): "
                f"try again in {self.retry_after_s} s or another worker")

    def for_sip(self, sip_max_calls: int = 0) -> SipCapacity:
        return SipCapacity(self, sip_max_calls)


class SipCapacity:
    """The SIP endpoint's call limiter (``try_acquire``/``release``) backed by the worker's shared capacity."""

    def __init__(self, capacity: Capacity, max_calls: int = 0):
        self.capacity = capacity
        self.max_calls = max_calls  # the SIP entry's own ceiling (sip.max_calls; 0: none)

    @property
    def active(self) -> int:
        return self.capacity.by_entry.get("sip", 0)

    @property
    def retry_after_s(self) -> int:
        return self.capacity.retry_after_s

    def try_acquire(self) -> bool:
        return self.capacity.try_enter("sip", self.max_calls)

    def release(self) -> None:
        self.capacity.leave("sip")

"""Trunk security and overload limits: who may talk to us, how fast, and how many calls at once.

Checked before any parsing work where possible (size, source, rate) so a flood from one address
cannot starve other calls.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable

DEFAULT_ALLOWED_CIDRS = ("127.0.0.0/8", "::1/128")


class SourceFilter:
    """Allow-list of source networks (default: loopback only)."""

    def __init__(self, cidrs: Iterable[str] = DEFAULT_ALLOWED_CIDRS) -> None:
        self.networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]

    def allows(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.networks if net.version == addr.version)


class RateLimiter:
    """Token bucket per source IP: ``rate`` messages per second, bursts up to ``burst``."""

    MAX_SOURCES = 10_000

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}  # ip -> (tokens, last time)

    def allow(self, ip: str, now: float | None = None) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(ip, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[ip] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self.MAX_SOURCES:
            self._forget_idle(now)
        return allowed

    def _forget_idle(self, now: float) -> None:
        full_after = self.burst / self.rate
        self._buckets = {ip: v for ip, v in self._buckets.items() if now - v[1] < full_after}


def is_ip_literal(host: str) -> bool:
    """True for an IPv4/IPv6 address (never a name: names would need DNS)."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


class LogLimiter:
    """One log line per key per interval: a flood from one source costs one line, not one per datagram.

    ``allow(key)`` returns None to hold the line back, else how many lines were held back since the last.
    """

    MAX_KEYS = 10_000

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self._last: dict[object, tuple[float, int]] = {}

    def allow(self, key: object, now: float | None = None) -> int | None:
        now = time.monotonic() if now is None else now
        last, held = self._last.get(key, (float("-inf"), 0))
        if now - last < self.interval_s:
            self._last[key] = (last, held + 1)
            return None
        if len(self._last) >= self.MAX_KEYS:
            self._last = {k: v for k, v in self._last.items() if now - v[0] < self.interval_s}
        self._last[key] = (now, 0)
        return held


class CallLimiter:
    """Counts live calls; INVITEs beyond ``max_calls`` get 503 with Retry-After."""

    def __init__(self, max_calls: int, retry_after_s: int = 30) -> None:
        self.max_calls = max_calls
        self.retry_after_s = retry_after_s
        self.active = 0
        self.on_refused: Callable[[str], None] | None = None  # for the service figures

    def try_acquire(self) -> bool:
        if self.max_calls > 0 and self.active >= self.max_calls:
            if self.on_refused is not None:
                self.on_refused("sip")
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active = max(0, self.active - 1)

"""Logins of supervisors and agents.

Argon2 password hashes, server-side sessions (shared by all workers through the store), CSRF tokens,
and a login rate limiter.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass

# Re-exported: the login path reads them from here; the hashes themselves live in calls (the user store's side).
from voicebot.calls.passwords import hash_password as hash_password
from voicebot.calls.passwords import verify_password as verify_password

ROLES = ("admin", "supervisor", "agent", "documentation")
SUPERVISORS = frozenset({"admin", "supervisor"})
AGENTS = frozenset({"admin", "supervisor", "agent"})
# Document owners: the knowledge pages (redacted unanswered questions, discrepancies), no call transcript.
KNOWLEDGE = frozenset({"admin", "supervisor", "documentation"})
EVERYONE = frozenset(ROLES)
COOKIE = "vb_session"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Sessions are stored by hash: a leaked database does not hand out live sessions."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_ok(expected: str, given: str | None) -> bool:
    return given is not None and given != "" and hmac.compare_digest(expected.encode(), given.encode())


@dataclass
class User:
    """A logged-in monitor user, as the session store knows them."""

    username: str
    role: str
    csrf: str
    token_hash: str


class LoginLimiter:
    """Sliding-window count of failed logins per (address, username) and per address.

    In memory, per process: with N workers an attacker gets at most N times the budget, still slow.
    """

    def __init__(self, max_failures: int = 5, window_s: float = 900.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._fails: dict[str, deque[float]] = {}

    def _keys(self, address: str, username: str) -> list[tuple[str, int]]:
        return [(f"u:{address}:{username.lower()}", self.max_failures), (f"a:{address}", self.max_failures * 4)]

    def retry_after(self, address: str, username: str, now: float | None = None) -> float:
        """Seconds to wait before another attempt is allowed (0: allowed now)."""
        now = now or time.monotonic()
        wait = 0.0
        for key, limit in self._keys(address, username):
            q = self._fails.get(key)
            if not q:
                continue
            while q and now - q[0] > self.window_s:
                q.popleft()
            if len(q) >= limit:
                wait = max(wait, self.window_s - (now - q[0]))
        return wait

    def failed(self, address: str, username: str, now: float | None = None) -> None:
        now = now or time.monotonic()
        for key, _ in self._keys(address, username):
            self._fails.setdefault(key, deque()).append(now)
        if len(self._fails) > 100_000:  # bound memory under a spray of addresses
            self._fails.clear()

    def succeeded(self, address: str, username: str) -> None:
        self._fails.pop(f"u:{address}:{username.lower()}", None)


class RedisLoginLimiter(LoginLimiter):
    """The same sliding windows, kept in Redis so that every worker counts the same failures.

    Without it an attacker spreading attempts over N workers behind the Service gets N times the
    budget. One sorted set per key (timestamps as scores), expiring with the window. Logins are rare:
    the synchronous client costs one round trip per attempt.
    """

    def __init__(self, url: str, prefix: str = "voicebot", max_failures: int = 5, window_s: float = 900.0) -> None:
        super().__init__(max_failures, window_s)
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2.0)
        self._prefix = f"{prefix}:login:"

    def retry_after(self, address: str, username: str, now: float | None = None) -> float:
        now = now or time.time()
        wait = 0.0
        for key, limit in self._keys(address, username):
            k = self._prefix + key
            pipe = self._redis.pipeline()
            pipe.zremrangebyscore(k, 0, now - self.window_s)
            pipe.zcard(k)
            pipe.zrange(k, 0, 0, withscores=True)
            _, count, oldest = pipe.execute()
            if count >= limit and oldest:
                wait = max(wait, self.window_s - (now - oldest[0][1]))
        return wait

    def failed(self, address: str, username: str, now: float | None = None) -> None:
        now = now or time.time()
        pipe = self._redis.pipeline()
        for key, _ in self._keys(address, username):
            k = self._prefix + key
            pipe.zadd(k, {f"{now:.6f}:{secrets.token_hex(4)}": now})
            pipe.expire(k, int(self.window_s) + 1)
        pipe.execute()

    def succeeded(self, address: str, username: str) -> None:
        self._redis.delete(f"{self._prefix}u:{address}:{username.lower()}")


def make_login_limiter(calls_settings, max_failures: int, window_s: float) -> LoginLimiter:
    """Redis-backed when the workers share a Redis bus, else in this process."""
    if getattr(calls_settings, "bus", "memory") == "redis":
        return RedisLoginLimiter(calls_settings.redis_url, calls_settings.redis_prefix, max_failures, window_s)
    return LoginLimiter(max_failures, window_s)

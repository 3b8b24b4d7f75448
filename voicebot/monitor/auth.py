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

ROLES = ("admin", "supervisor", "agent")
SUPERVISORS = frozenset({"admin", "supervisor"})
AGENTS = frozenset({"admin", "supervisor", "agent"})
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

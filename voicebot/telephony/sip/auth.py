"""Optional digest challenge for INVITEs (RFC 7616 algorithms SHA-256 and MD5, qop=auth; RFC 3261 22).

Nonces are stateless: ``timestamp:HMAC(secret, timestamp)``, so any worker restart invalidates
them and no table grows with scanners' traffic.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

from .message import SipMessage

ALGORITHMS = {"SHA-256": hashlib.sha256, "MD5": hashlib.md5}
NONCE_LIFETIME_S = 300
_AUTH_PARAM_RE = re.compile(r'([A-Za-z0-9\-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]+)')


def digest(algorithm: str, text: str) -> str:
    return ALGORITHMS[algorithm](text.encode("utf-8")).hexdigest()


def parse_auth_header(value: str) -> dict[str, str]:
    """``Digest username="a", realm="b", ...`` -> {"username": "a", ...}."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    return {m.group(1).lower(): m.group(2).strip('"') for m in _AUTH_PARAM_RE.finditer(rest)}


def expected_response(algorithm: str, username: str, realm: str, password: str, method: str, uri: str,
                      nonce: str, nc: str = "", cnonce: str = "", qop: str = "") -> str:
    ha1 = digest(algorithm, f"{username}:{realm}:{password}")
    ha2 = digest(algorithm, f"{method}:{uri}")
    if qop:
        return digest(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return digest(algorithm, f"{ha1}:{nonce}:{ha2}")


class DigestAuthenticator:
    """RFC 7616 digest challenges and their checking, with stateless nonces."""

    def __init__(self, realm: str, users: dict[str, str], algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
                 secret: bytes | None = None) -> None:
        unknown = [a for a in algorithms if a not in ALGORITHMS]
        if unknown:
            raise ValueError(f"unsupported digest algorithm(s): {', '.join(unknown)}")
        self.realm = realm
        self.users = users
        self.algorithms = algorithms
        self._secret = secret or secrets.token_bytes(32)

    def make_nonce(self, now: float | None = None) -> str:
        stamp = str(int(now if now is not None else time.time()))
        mac = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{stamp}.{mac}"

    def nonce_valid(self, nonce: str, now: float | None = None) -> bool:
        stamp, _, mac = nonce.partition(".")
        if not stamp.isdigit():
            return False
        good = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]
        age = (now if now is not None else time.time()) - int(stamp)
        return hmac.compare_digest(good, mac) and 0 <= age <= NONCE_LIFETIME_S

    def challenge_headers(self) -> list[tuple[str, str]]:
        """One WWW-Authenticate per algorithm, strongest first (RFC 7616 section 3.7)."""
        nonce = self.make_nonce()
        return [("WWW-Authenticate", f'Digest realm="{self.realm}", nonce="{nonce}", algorithm={alg}, qop="auth"')
                for alg in self.algorithms]

    def verify(self, request: SipMessage) -> bool:
        """True if an Authorization header proves one of our users' passwords for this request."""
        for value in request.get_all("Authorization") + request.get_all("Proxy-Authorization"):
            p = parse_auth_header(value)
            algorithm = (p.get("algorithm") or "MD5").upper()
            user = p.get("username", "")
            if algorithm not in self.algorithms or p.get("realm") != self.realm or user not in self.users:
                continue
            if not self.nonce_valid(p.get("nonce", "")):
                continue
            qop = p.get("qop", "")
            if qop not in ("", "auth"):
                continue
            want = expected_response(algorithm, user, self.realm, self.users[user], request.method or "",
                                     p.get("uri", ""), p.get("nonce", ""), p.get("nc", ""), p.get("cnonce", ""), qop)
            if hmac.compare_digest(want, p.get("response", "").lower()):
                return True
        return False

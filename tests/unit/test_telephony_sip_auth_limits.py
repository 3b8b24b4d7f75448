"""Digest challenge (RFC 7616, SHA-256 and MD5), source allow-list, rate and call limits."""

from __future__ import annotations

import hashlib

from voicebot.telephony.sip.auth import DigestAuthenticator, parse_auth_header
from voicebot.telephony.sip.limits import CallLimiter, RateLimiter, SourceFilter
from voicebot.telephony.sip.message import SipMessage


def _h(alg, s):
    return (hashlib.sha256 if alg == "SHA-256" else hashlib.md5)(s.encode()).hexdigest()


def _authorized_invite(auth: DigestAuthenticator, alg: str, password: str, uri: str = "sip:bot@127.0.0.1") -> SipMessage:
    challenge = next(v for _, v in auth.challenge_headers() if f"algorithm={alg}," in v)
    params = parse_auth_header(challenge)
    assert params["algorithm"] == alg and params["qop"] == "auth"
    ha1 = _h(alg, f"alice:{params['realm']}:{password}")
    ha2 = _h(alg, f"INVITE:{uri}")
    response = _h(alg, f"{ha1}:{params['nonce']}:00000001:abc:auth:{ha2}")
    req = SipMessage(method="INVITE", uri=uri)
    req.add("Authorization", f'Digest username="alice", realm="{params["realm"]}", nonce="{params["nonce"]}", '
                             f'uri="{uri}", response="{response}", algorithm={alg}, qop=auth, nc=00000001, '
                             f'cnonce="abc"')
    return req


def test_digest_sha256_and_md5_accept_the_right_password_only():
    auth = DigestAuthenticator("voicebot", {"alice": "s3cret"})
    assert [v.split("algorithm=")[1].split(",")[0] for _, v in auth.challenge_headers()] == ["SHA-256", "MD5"]
    for alg in ("SHA-256", "MD5"):
        assert auth.verify(_authorized_invite(auth, alg, "s3cret"))
        assert not auth.verify(_authorized_invite(auth, alg, "wrong"))


def test_digest_rejects_a_foreign_or_stale_nonce_and_missing_header():
    auth = DigestAuthenticator("voicebot", {"alice": "s3cret"})
    other = DigestAuthenticator("voicebot", {"alice": "s3cret"})
    assert not other.verify(_authorized_invite(auth, "SHA-256", "s3cret"))
    assert not auth.nonce_valid(auth.make_nonce(now=0))
    assert not auth.verify(SipMessage(method="INVITE", uri="sip:bot@127.0.0.1"))


def test_digest_with_uri_parameters_in_quotes():
    auth = DigestAuthenticator("voicebot", {"alice": "s3cret"})
    assert auth.verify(_authorized_invite(auth, "MD5", "s3cret", uri="sip:bot@127.0.0.1;transport=udp"))


def test_source_filter_defaults_to_loopback():
    f = SourceFilter()
    assert f.allows("127.0.0.1") and f.allows("::1") and f.allows("::ffff:127.0.0.1")
    assert not f.allows("192.0.2.7") and not f.allows("not-an-ip")
    assert SourceFilter(["192.0.2.0/24"]).allows("192.0.2.7")


def test_rate_limiter_is_per_source_and_refills():
    r = RateLimiter(rate=10, burst=3)
    assert [r.allow("a", now=0) for _ in range(4)] == [True, True, True, False]
    assert r.allow("b", now=0)
    assert r.allow("a", now=0.1)


def test_call_limiter():
    c = CallLimiter(2)
    assert c.try_acquire() and c.try_acquire() and not c.try_acquire()
    c.release()
    assert c.try_acquire() and c.active == 2

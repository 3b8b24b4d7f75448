import hashlib
import hmac

from voicebot.calls.webhook import encode, sign, verify


def test_signature_is_hmac_sha256_of_the_body():
    body = encode({"call_id": "c1", "summary": "Résumé"})
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign(body, "s3cret") == expected
    assert verify(body, "s3cret", expected)


def test_signature_rejects_tampering_and_wrong_key():
    body = encode({"call_id": "c1"})
    header = sign(body, "s3cret")
    assert not verify(body + b" ", "s3cret", header)
    assert not verify(body, "other", header)
    assert not verify(body, "s3cret", None)
    assert not verify(body, "s3cret", "sha256=" + "0" * 64)


def test_encoding_is_stable_utf8_json():
    assert encode({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()

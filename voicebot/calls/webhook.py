"""Handoff webhook: POST the card as JSON to the agents' CRM, signed and retried.

Header `X-Voicebot-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, key = webhook secret>`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from typing import Any

import httpx

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Voicebot-Signature"


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str | None) -> bool:
    """What a receiver runs: constant-time comparison of the header with the expected signature."""
    return header is not None and header != "" and hmac.compare_digest(sign(body, secret), header.strip())


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


class WebhookSender:
    """Sends with retries on network errors, 5xx and 429; a 4xx other than 429 is final."""

    def __init__(self, url: str, secret: str = "", retries: int = 4, backoff_s: float = 0.5,
                 timeout_s: float = 5.0) -> None:
        self.url = url
        self.secret = secret
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s

    async def send(self, payload: dict[str, Any], event: str = "handoff") -> bool:
        body = encode(payload)
        headers = {"Content-Type": "application/json", "X-Voicebot-Event": event}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        delay = self.backoff_s
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            for attempt in range(self.retries + 1):
                error = ""
                try:
                    r = await client.post(self.url, content=body, headers=headers)
                    if r.status_code < 300:
                        return True
                    error = f"HTTP {r.status_code}"
                    if 400 <= r.status_code < 500 and r.status_code != 429:
                        log.error("webhook_refused",
                                  extra={"status": r.status_code, "call_id": payload.get("call_id")})
                        return False
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                log.warning("webhook_retry",
                            extra={"attempt": attempt + 1, "error": error, "call_id": payload.get("call_id")})
                if attempt < self.retries:
                    await asyncio.sleep(delay)
                    delay *= 2
        return False

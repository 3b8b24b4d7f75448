"""The one HTTP adapter to the region's back-office.

Operations found by operationId in its OpenAPI description, httpx requests with timeouts, a circuit
breaker, retries only for idempotent GETs, API-key or OAuth2 client-credentials authentication (token
cached until shortly before it expires).

A fresh httpx client per request: lookups are a few per call, and a client bound to no event loop can be
shared by every call of the worker (the breaker and the token cache are shared on purpose).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from voicebot.backoffice.breaker import CircuitBreaker
from voicebot.backoffice.models import (BackofficeAuthError, BackofficeConfigError, BackofficeError,
                                        BackofficeMalformed, BackofficeTimeout, BackofficeUnavailable,
                                        DossierStatus)
from voicebot.backoffice.openapi import Operation, find_operation
from voicebot.backoffice.settings import BackofficeSettings

log = logging.getLogger(__name__)
_RETRY_STATUS = (502, 503, 504)


class BackofficeClient:
    """The back-office as the dialogue calls it: one method per operation, typed errors, no surprises."""

    def __init__(self, settings: BackofficeSettings, *, transport: httpx.AsyncBaseTransport | None = None):
        if not settings.base_url:
            raise BackofficeConfigError("backoffice.base_url is not set")
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s)
        self._transport = transport
        self._spec: dict[str, Any] | None = None
        self._token: tuple[str, float] | None = None  # (access token, monotonic expiry)
        self.tokens_fetched = 0

    def _http(self) -> httpx.AsyncClient:
        s = self.settings
        return httpx.AsyncClient(timeout=httpx.Timeout(s.timeout_s, connect=s.connect_timeout_s),
                                 transport=self._transport, follow_redirects=False, trust_env=False)

    # --- description -------------------------------------------------------------------------------
    async def operation(self, operation_id: str) -> Operation:
        if self._spec is None:
            self._spec = await self._load_spec()
        return find_operation(self._spec, operation_id)

    async def _load_spec(self) -> dict[str, Any]:
        if self.settings.spec:
            try:
                return json.loads(await asyncio.to_thread(Path(self.settings.spec).read_text, encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise BackofficeConfigError(f"cannot read OpenAPI description {self.settings.spec}: {e}") from None
        status, body = await self._send_checked(httpx.Request("GET", self.base_url + "/openapi.json"),
                                                retries=self.settings.retries)
        if status != 200 or not isinstance(body, dict):
            raise BackofficeUnavailable(f"no OpenAPI description at {self.base_url}/openapi.json ({status})")
        return body

    async def tool_schema(self, operation_id: str | None = None) -> dict[str, Any]:
        return (await self.operation(operation_id or self.settings.status_operation)).tool_schema()

    # --- calls -------------------------------------------------------------------------------------
    async def call(self, operation_id: str, arguments: dict[str, Any]) -> tuple[int, Any]:
        """Run an operation; (HTTP status, decoded JSON body or None). Raises BackofficeError subclasses.

        Arguments are checked against the description first (ValueError): they may come from an LLM.
        """
        if not self.breaker.allow():
            raise BackofficeUnavailable("circuit breaker open")
        try:
            op = await self.operation(operation_id)
        except BackofficeConfigError:
            raise
        except BackofficeError:
            self.breaker.failure()
            raise
        request = self._request(op, arguments)
        return await self._send_checked(request, retries=self.settings.retries if op.idempotent else 0)

    def _request(self, op: Operation, arguments: dict[str, Any]) -> httpx.Request:
        unknown = set(arguments) - {p.argument for p in op.parameters}
        if unknown:
            raise ValueError(f"unknown arguments for {op.operation_id}: {sorted(unknown)}")
        path, query, headers = op.path, {}, {"Accept": "application/json"}
        for p in op.parameters:
            if p.argument not in arguments:
                if p.required:
                    raise ValueError(f"missing argument {p.argument} for {op.operation_id}")
                continue
            value = p.check(arguments[p.argument])
            if p.location == "path":
                path = path.replace("{" + p.name + "}", quote(value, safe=""))
            elif p.location == "query":
                query[p.name] = value
            else:
                headers[p.name] = value
        return httpx.Request(op.method.upper(), self.base_url + path, params=query, headers=headers)

    async def _send_checked(self, request: httpx.Request, *, retries: int) -> tuple[int, Any]:
        """Send with auth and retries; feed the breaker; map failures to typed errors."""
        try:
            status, body = await self._send(request, retries=retries)
        except (BackofficeUnavailable, BackofficeTimeout, BackofficeMalformed):
            self.breaker.failure()
            raise
        except BackofficeError:
            self.breaker.success()  # the service answered: an auth problem is ours, not its health
            raise
        self.breaker.success()
        return status, body

    async def _send(self, request: httpx.Request, *, retries: int) -> tuple[int, Any]:
        attempt, reauth = 0, self.settings.auth == "oauth2"
        while True:
            await self._authenticate(request)
            try:
                status, body = await self._once(request)
            except BackofficeUnavailable:
                if attempt >= retries:
                    raise
                attempt += 1
                await asyncio.sleep(0.1 * attempt)
                continue
            if status == 401 and reauth:  # the token may have been revoked: one fresh token, once
                self._token, reauth = None, False
                continue
            if status in (401, 403):
                raise BackofficeAuthError(f"back-office refused our credentials ({status})")
            if status in _RETRY_STATUS and attempt < retries:
                attempt += 1
                await asyncio.sleep(0.1 * attempt)
                continue
            if status >= 500:
                raise BackofficeUnavailable(f"back-office error {status}")
            if status not in (200, 404):
                raise BackofficeError(f"back-office rejected the request ({status})")
            return status, body

    async def _once(self, request: httpx.Request) -> tuple[int, Any]:
        """One exchange within the deadline; the body is read only up to max_response_bytes."""
        limit = self.settings.max_response_bytes
        try:
            async with asyncio.timeout(self.settings.timeout_s), self._http() as http:
                response = await http.send(request, stream=True)
                try:
                    data = bytearray()
                    async for chunk in response.aiter_bytes():
                        data += chunk
                        if len(data) > limit:
                            raise BackofficeMalformed(f"response larger than {limit} bytes")
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            raise BackofficeTimeout(f"no answer within {self.settings.timeout_s} s") from None
        except httpx.HTTPError as e:
            raise BackofficeUnavailable(f"{type(e).__name__}: {e}") from None
        if response.status_code != 200:
            return response.status_code, None
        ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise BackofficeMalformed(f"unexpected content type {ctype or 'none'!r}")
        try:
            return 200, json.loads(bytes(data))
        except ValueError:
            raise BackofficeMalformed("response is not valid JSON") from None

    # --- authentication ----------------------------------------------------------------------------
    async def _authenticate(self, request: httpx.Request) -> None:
        s = self.settings
        if s.auth == "api_key":
            if not s.api_key:
                raise BackofficeConfigError("backoffice.api_key is empty")
            request.headers[s.api_key_header] = s.api_key
        elif s.auth == "oauth2":
            request.headers["Authorization"] = "Bearer " + await self._access_token()

    async def _access_token(self) -> str:
        if self._token is not None and time.monotonic() < self._token[1]:
            return self._token[0]
        s = self.settings
        if not (s.token_url and s.client_id and s.client_secret):
            raise BackofficeConfigError("oauth2 needs backoffice.token_url, client_id and client_secret")
        form = {"grant_type": "client_credentials", **({"scope": s.scope} if s.scope else {})}
        req = httpx.Request("POST", s.token_url, data=form, headers={"Accept": "application/json"})
        basic = base64.b64encode(f"{s.client_id}:{s.client_secret}".encode()).decode()
        req.headers["Authorization"] = "Basic " + basic
        status, body = await self._once(req)
        if status in (400, 401, 403):
            raise BackofficeAuthError(f"token endpoint refused the client credentials ({status})")
        if status != 200:
            raise BackofficeUnavailable(f"token endpoint error {status}")
        token, expires = _token_fields(body)
        self.tokens_fetched += 1
        # Renew a little before the server's expiry (clock skew, request in flight).
        self._token = (token, time.monotonic() + max(1.0, expires - min(30.0, expires / 10)))
        return token


def _token_fields(body: Any) -> tuple[str, float]:
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise BackofficeMalformed("token response without access_token")
    if str(body.get("token_type", "")).lower() != "bearer":
        raise BackofficeMalformed("token type is not bearer")
    expires = body.get("expires_in", 300)
    if isinstance(expires, bool) or not isinstance(expires, (int, float)) or not 0 < expires <= 86400:
        raise BackofficeMalformed("token expires_in invalid")
    if len(body["access_token"]) > 4096 or any(ord(c) < 33 for c in body["access_token"]):
        raise BackofficeMalformed("token malformed")
    return body["access_token"], float(expires)


async def dossier_status(client: BackofficeClient, number: str, postcode: str) -> DossierStatus | None:
    """The dossier's status if the number and postcode match; None if they do not (nothing else said)."""
    op = client.settings.status_operation
    status, body = await client.call(op, {"number": number, "verification_postcode": postcode})
    if status == 404:
        return None
    return DossierStatus.from_wire(body, number)

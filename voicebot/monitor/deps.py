"""What every monitor route shares: the context, templates, security headers and the role dependencies.

Routes declare who may call them with `Depends(require(ROLES, api=...))` (or the `Action` dependency for
state-changing POSTs). A refused request raises `Refused`; the handler `mount()` installs turns it into
401 JSON / redirect to /login (anonymous) or 403 JSON / error page (wrong role, bad origin or CSRF).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from fastapi import Request, WebSocketException
from fastapi.requests import HTTPConnection
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from voicebot.monitor.auth import COOKIE, SUPERVISORS, User, csrf_ok, token_hash
from voicebot.monitor.context import MonitorContext
from voicebot.monitor.labels import ALERT_FR, REASON_FR, STATE_FR, register_filters

HERE = Path(__file__).parent
MAX_OFFSET = 10_000_000  # history offsets beyond this are refused (400), never sent to the database
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = Jinja2Templates(directory=str(HERE / "templates"))
register_filters(templates.env)
templates.env.globals.update(STATE_FR=STATE_FR, REASON_FR=REASON_FR, ALERT_FR=ALERT_FR)


def get_ctx(conn: HTTPConnection) -> MonitorContext:
    """The MonitorContext `mount()` put on the app (one per app, so tests can run several)."""
    return conn.app.state.monitor


def secure(resp: Response) -> Response:
    for k, v in SECURITY_HEADERS.items():
        resp.headers.setdefault(k, v)
    return resp


def api_error(status: int, detail: str, headers: dict | None = None) -> Response:
    return secure(JSONResponse({"detail": detail}, status_code=status, headers=headers))


def page(request: Request, name: str, user: User | None, status: int = 200, headers: dict | None = None,
         **context: Any) -> Response:
    """A French HTML page with the user, its CSRF token and the agent queues in the template context."""
    ctx = get_ctx(request)
    context.update(user=user, csrf=user.csrf if user else "", queues=ctx.settings.queues)
    return secure(templates.TemplateResponse(request, name, context, status_code=status, headers=headers))


def forbidden_page(request: Request, user: User) -> Response:
    return page(request, "error.html", user, 403, title="Accès refusé",
                message="Votre rôle ne donne pas accès à cette page.")


async def session_user(conn: HTTPConnection) -> User | None:
    token = conn.cookies.get(COOKIE)
    if not token or len(token) > 200:
        return None
    th = token_hash(token)
    row = await asyncio.to_thread(get_ctx(conn).store.get_session, th)
    return User(row["username"], row["role"], row["csrf"], th) if row else None


def same_origin(headers) -> bool:
    origin = headers.get("origin")
    if not origin:  # non-browser clients send none; browsers always do on POST and WebSocket
        return True
    return urlparse(origin).netloc == headers.get("host", "")


async def read_form(request: Request) -> dict[str, Any]:
    """The body as a dict (JSON object or form); anything unreadable is an empty form."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = await request.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    try:
        return dict(await request.form())
    except Exception:
        return {}


class Refused(Exception):
    """A request the role dependencies turn away; `refused_response` renders it."""

    def __init__(self, status: int, detail: str, api: bool, user: User | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.api, self.user = status, detail, api, user


async def refused_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    if exc.api:
        return api_error(exc.status, exc.detail)
    if exc.status == 401:
        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return secure(RedirectResponse(f"/login?next={quote(nxt)}", status_code=303))
    assert exc.user is not None
    return forbidden_page(request, exc.user)


def require(roles: frozenset[str], *, api: bool) -> Callable[[Request], Awaitable[User]]:
    """Dependency: the logged-in user if its role is in `roles`, else `Refused` (401 or 403)."""

    async def dependency(request: Request) -> User:
        user = await session_user(request)
        if user is None:
            raise Refused(401, "Connexion requise.", api)
        if user.role not in roles:
            raise Refused(403, "Rôle insuffisant.", api, user)
        return user

    return dependency


@dataclass
class Action:
    """A checked state-changing request: supervisor, same origin, valid CSRF token; with its body."""

    user: User
    form: dict[str, Any]


async def supervisor_action(request: Request) -> Action:
    return await checked_action(request, SUPERVISORS)


async def checked_action(request: Request, roles: frozenset[str]) -> Action:
    """Role, then Origin, then the session's CSRF token (form field csrf_token or X-CSRF-Token)."""
    form = await read_form(request)
    user = await require(roles, api=True)(request)
    if not same_origin(request.headers):
        raise Refused(403, "Origine refusée.", True, user)
    given = request.headers.get("x-csrf-token") or str(form.get("csrf_token") or "")
    if not csrf_ok(user.csrf, given):
        raise Refused(403, "Jeton CSRF manquant ou invalide.", True, user)
    return Action(user, form)


def require_ws(roles: frozenset[str]) -> Callable[..., Awaitable[User]]:
    """WebSocket dependency: closing before accept refuses the handshake (HTTP 403 to the browser)."""

    async def dependency(conn: HTTPConnection) -> User:
        user = await session_user(conn)
        if user is None or user.role not in roles or not same_origin(conn.headers):
            raise WebSocketException(code=4401 if user is None else 4403)
        return user

    return dependency


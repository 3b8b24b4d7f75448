"""POST /login (rate-limited, argon2) and POST /logout (CSRF-checked); GET /login shows the form."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from voicebot.monitor.auth import COOKIE, KNOWLEDGE, SUPERVISORS, csrf_ok, new_token, token_hash, verify_password
from voicebot.monitor.deps import api_error, get_ctx, page, read_form, same_origin, secure, session_user

router = APIRouter(include_in_schema=False)


KNOWLEDGE_PAGE = "/monitor/connaissances"


def default_page(role: str) -> str:
    if role in SUPERVISORS:
        return "/monitor"
    return KNOWLEDGE_PAGE if role in KNOWLEDGE else "/agent"


def safe_next(nxt: str | None, role: str) -> str:
    """Where to go after login: a local path this role may open, never another site."""
    if nxt and nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt:
        if nxt.startswith("/monitor") and role not in SUPERVISORS and not (
                role in KNOWLEDGE and nxt.startswith(KNOWLEDGE_PAGE)):
            return default_page(role)
        return nxt
    return default_page(role)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = ""):
    return page(request, "login.html", None, next=next, error="")


@router.post("/login")
async def login(request: Request):
    ctx = get_ctx(request)
    ms, limiter = ctx.settings, ctx.limiter
    assert limiter is not None
    form = await read_form(request)
    username = str(form.get("username") or "").strip()[:100]
    password = str(form.get("password") or "")[:1000]
    nxt = str(form.get("next") or "")
    wants_json = "application/json" in request.headers.get("accept", "")
    address = client_address(request)
    if not same_origin(request.headers):
        return api_error(403, "Origine refusée.")
    wait = limiter.retry_after(address, username)
    if wait > 0:
        msg = f"Trop de tentatives de connexion. Réessayez dans {int(wait // 60) + 1} min."
        headers = {"Retry-After": str(int(wait) + 1)}
        if wants_json:
            return api_error(429, msg, headers)
        return page(request, "login.html", None, 429, next=nxt, error=msg, headers=headers)
    row = await asyncio.to_thread(ctx.store.get_user, username) if username else None
    ok = await asyncio.to_thread(verify_password, row["password_hash"] if row else None, password)
    if not ok or row is None or row["disabled"]:
        limiter.failed(address, username)
        await asyncio.sleep(ms.login_delay_s)
        msg = "Identifiant ou mot de passe incorrect."
        if wants_json:
            return api_error(401, msg)
        return page(request, "login.html", None, 401, next=nxt, error=msg)
    limiter.succeeded(address, username)
    token, csrf = new_token(), new_token()
    await asyncio.to_thread(ctx.store.create_session, token_hash(token), row["username"], row["role"], csrf,
                            ms.session_ttl_s)
    if wants_json:
        resp: Response = JSONResponse({"username": row["username"], "role": row["role"], "csrf_token": csrf})
    else:
        resp = RedirectResponse(safe_next(nxt, row["role"]), status_code=303)
    is_https = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    resp.set_cookie(COOKIE, token, max_age=ms.session_ttl_s, httponly=True, samesite="strict",
                    secure=is_https if ms.cookie_secure is None else ms.cookie_secure, path="/")
    return secure(resp)


@router.post("/logout")
async def logout(request: Request):
    form = await read_form(request)
    user = await session_user(request)
    if user is None:
        return secure(RedirectResponse("/login", status_code=303))
    given = request.headers.get("x-csrf-token") or str(form.get("csrf_token") or "")
    if not csrf_ok(user.csrf, given) or not same_origin(request.headers):
        return api_error(403, "Jeton CSRF manquant ou invalide.")
    await asyncio.to_thread(get_ctx(request).store.delete_session, user.token_hash)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return secure(resp)

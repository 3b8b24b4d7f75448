"""HTTP side of the monitor: French pages, JSON API and WebSockets for supervisors and agents.

`mount(app, ctx)` adds the routes to the worker's FastAPI app. Pages: /login, /monitor (live calls),
/monitor/calls/{id}, /monitor/history, /agent, /agent/handoffs/{id}. API: /api/me, /api/calls,
/api/calls/{id}, /api/history, /api/handoffs, /api/handoffs/{id}, POST /api/calls/{id}/transfer|hangup.
WebSockets: /monitor/ws (list, or one call with ?call=ID), /agent/ws, /monitor/ws/listen/{id}.
Anonymous: 401 (API, WebSocket) or redirect to /login (pages); wrong role: 403; actions need the
session's CSRF token (form field csrf_token or header X-CSRF-Token) and a same-origin Origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from voicebot.calls import metrics
from voicebot.monitor.auth import (AGENTS, COOKIE, SUPERVISORS, User, csrf_ok, make_login_limiter, new_token,
                                   token_hash, verify_password)
from voicebot.monitor.context import MonitorContext
from voicebot.monitor.live import STATE_FR, LiveBoard, _turn_view

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
REASON_FR = {"caller_hangup": "raccroché par l'appelant", "bot_hangup": "raccroché par le bot",
             "silence": "silence", "max_duration": "durée maximale", "transfer": "transféré",
             "error": "erreur", "worker_lost": "interrompu (serveur perdu)"}
ALERT_FR = {"person_requested": "Demande un conseiller", "not_understood": "Incompris 2 fois",
            "long_silence": "Long silence", "anger": "Colère"}


def _fmt_time(ts: float | None) -> str:
    return time.strftime("%d/%m/%Y %H:%M:%S", time.localtime(ts)) if ts else ""


def _fmt_duration(s: float | None) -> str:
    s = int(s or 0)
    return f"{s // 60} min {s % 60:02d} s"


def mount(app: FastAPI, ctx: MonitorContext) -> None:
    """Add the monitor's routes to app; the live board starts and stops with the app's lifespan."""
    ms = ctx.settings
    if ctx.board is None:
        ctx.board = LiveBoard(ctx.store, ctx.bus)
    if ctx.limiter is None:
        ctx.limiter = make_login_limiter(ctx.calls_settings, ms.login_max_failures, ms.login_window_s)
    board, store, limiter = ctx.board, ctx.store, ctx.limiter
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(time=_fmt_time, duration=_fmt_duration)
    templates.env.globals.update(STATE_FR=STATE_FR, REASON_FR=REASON_FR, ALERT_FR=ALERT_FR)

    inner_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a):
        await ctx.start()
        try:
            async with inner_lifespan(a) as state:
                yield state
        finally:
            await ctx.stop()

    app.router.lifespan_context = lifespan
    app.mount("/monitor/static", StaticFiles(directory=str(HERE / "static")), name="monitor-static")

    # -- helpers ----------------------------------------------------------------------------
    async def session_user(cookies) -> User | None:
        token = cookies.get(COOKIE)
        if not token or len(token) > 200:
            return None
        th = token_hash(token)
        row = await asyncio.to_thread(store.get_session, th)
        return User(row["username"], row["role"], row["csrf"], th) if row else None

    def secure(resp: Response) -> Response:
        for k, v in SECURITY_HEADERS.items():
            resp.headers.setdefault(k, v)
        return resp

    def api_error(status: int, detail: str, headers: dict | None = None) -> Response:
        return secure(JSONResponse({"detail": detail}, status_code=status, headers=headers))

    def page(request: Request, name: str, user: User | None, status: int = 200, headers: dict | None = None,
             **context) -> Response:
        context.update(user=user, csrf=user.csrf if user else "", queues=ms.queues)
        return secure(templates.TemplateResponse(request, name, context, status_code=status, headers=headers))

    def forbidden_page(request: Request, user: User) -> Response:
        return page(request, "error.html", user, 403, title="Accès refusé",
                    message="Votre rôle ne donne pas accès à cette page.")

    async def need(request: Request, roles: frozenset[str], api: bool) -> User | Response:
        user = await session_user(request.cookies)
        if user is None:
            if api:
                return api_error(401, "Connexion requise.")
            nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return secure(RedirectResponse(f"/login?next={quote(nxt)}", status_code=303))
        if user.role not in roles:
            return api_error(403, "Rôle insuffisant.") if api else forbidden_page(request, user)
        return user

    def same_origin(headers) -> bool:
        origin = headers.get("origin")
        if not origin:  # non-browser clients send none; browsers always do on POST and WebSocket
            return True
        return urlparse(origin).netloc == headers.get("host", "")

    async def action_user(request: Request, form: dict[str, Any]) -> User | Response:
        user = await need(request, SUPERVISORS, api=True)
        if isinstance(user, Response):
            return user
        if not same_origin(request.headers):
            return api_error(403, "Origine refusée.")
        given = request.headers.get("x-csrf-token") or str(form.get("csrf_token") or "")
        if not csrf_ok(user.csrf, given):
            return api_error(403, "Jeton CSRF manquant ou invalide.")
        return user

    async def read_form(request: Request) -> dict[str, Any]:
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

    def default_page(role: str) -> str:
        return "/monitor" if role in SUPERVISORS else "/agent"

    def safe_next(nxt: str | None, role: str) -> str:
        if nxt and nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt:
            if nxt.startswith("/monitor") and role not in SUPERVISORS:
                return default_page(role)
            return nxt
        return default_page(role)

    def client_address(request: Request) -> str:
        return request.client.host if request.client else "?"

    async def call_detail(call_id: str) -> dict[str, Any] | None:
        row = await asyncio.to_thread(store.get_call, call_id)
        snap = board.snapshot(call_id)
        if row is None and snap is None:
            return None
        turns = {t["turn"]: _turn_view(t) for t in await asyncio.to_thread(store.turns, call_id)} if row else {}
        if snap is not None:
            for t in snap["turns_detail"]:
                turns.setdefault(t["turn"], t)
        detail: dict[str, Any]
        if snap is not None and (row is None or row["ended_at"] is None):
            detail = {k: v for k, v in snap.items() if k != "turns_detail"}
        else:
            detail = {
                "id": row["id"], "state": row["state"], "state_label": STATE_FR.get(row["state"], row["state"]),
                "started_at": row["started_at"], "ended_at": row["ended_at"],
                "duration_s": round((row["ended_at"] or time.time()) - row["started_at"], 1),
                "caller": row["caller"], "channel": row["channel"], "worker": row["worker_id"],
                "topic": row["topic"], "live": row["ended_at"] is None, "end_reason": row["end_reason"] or "",
                "ended_abnormally": bool(row["abnormal"]), "transferred": bool(row["transferred"]),
                "alerts": [{"kind": k, "message": "", "ts": None} for k in row["alerts"] or []],
                "partial": "", "bot_partial": "",
            }
        detail["turns"] = len(turns)
        detail["turns_detail"] = [turns[k] for k in sorted(turns)]
        if row is not None:
            evs = await asyncio.to_thread(store.events, call_id,
                                          ["barge_in", "dtmf", "silence", "transfer", "error", "alert", "call_ended"])
            detail["events"] = [{"type": e["type"], "ts": e["ts"], "data": e["data"]} for e in evs]
            detail["handoffs"] = [h["id"] for h in await asyncio.to_thread(store.recent_handoffs, 10, call_id)]
            if row["alerts"] and snap is None:
                msgs = {e["data"].get("kind"): e["data"].get("message", "") for e in detail["events"]
                        if e["type"] == "alert"}
                detail["alerts"] = [{"kind": k, "message": msgs.get(k, ""), "ts": None} for k in row["alerts"]]
        else:
            detail["events"], detail["handoffs"] = [], ([snap["handoff_id"]] if snap and snap["handoff_id"] else [])
        return detail

    async def find_handoff(handoff_id: str) -> dict[str, Any] | None:
        h = await asyncio.to_thread(store.get_handoff, handoff_id)
        if h is None:  # also accept a call id: its latest handoff
            recent = await asyncio.to_thread(store.recent_handoffs, 1, handoff_id)
            h = recent[0] if recent else None
        return h

    # -- login ------------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_page(request: Request, next: str = ""):
        return page(request, "login.html", None, next=next, error="")

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
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
        row = await asyncio.to_thread(store.get_user, username) if username else None
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
        await asyncio.to_thread(store.create_session, token_hash(token), row["username"], row["role"], csrf,
                                ms.session_ttl_s)
        if wants_json:
            resp: Response = JSONResponse({"username": row["username"], "role": row["role"], "csrf_token": csrf})
        else:
            resp = RedirectResponse(safe_next(nxt, row["role"]), status_code=303)
        is_https = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
        resp.set_cookie(COOKIE, token, max_age=ms.session_ttl_s, httponly=True, samesite="strict",
                        secure=is_https if ms.cookie_secure is None else ms.cookie_secure, path="/")
        return secure(resp)

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request):
        form = await read_form(request)
        user = await session_user(request.cookies)
        if user is None:
            return secure(RedirectResponse("/login", status_code=303))
        given = request.headers.get("x-csrf-token") or str(form.get("csrf_token") or "")
        if not csrf_ok(user.csrf, given) or not same_origin(request.headers):
            return api_error(403, "Jeton CSRF manquant ou invalide.")
        await asyncio.to_thread(store.delete_session, user.token_hash)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return secure(resp)

    # -- pages ------------------------------------------------------------------------------
    @app.get("/monitor", response_class=HTMLResponse, include_in_schema=False)
    async def calls_page(request: Request):
        user = await need(request, SUPERVISORS, api=False)
        if isinstance(user, Response):
            return user
        return page(request, "calls.html", user, calls=board.live_calls())

    @app.get("/monitor/calls/{call_id}", response_class=HTMLResponse, include_in_schema=False)
    async def call_page(request: Request, call_id: str):
        user = await need(request, SUPERVISORS, api=False)
        if isinstance(user, Response):
            return user
        detail = await call_detail(call_id)
        if detail is None:
            return page(request, "error.html", user, 404, title="Appel introuvable",
                        message="Aucun appel ne porte cet identifiant.")
        return page(request, "call.html", user, call=detail, listen_here=ctx.control.can_listen(call_id))

    @app.get("/monitor/history", response_class=HTMLResponse, include_in_schema=False)
    async def history_page(request: Request, q: str = "", page_no: int = 0):
        user = await need(request, SUPERVISORS, api=False)
        if isinstance(user, Response):
            return user
        if not 0 <= page_no * ms.history_page_size <= MAX_OFFSET:  # the database's integers are 64-bit
            return page(request, "error.html", user, 400, title="Page invalide",
                        message="Ce numéro de page n'existe pas.")
        rows = await asyncio.to_thread(store.history, q[:200], ms.history_page_size,
                                       max(0, page_no) * ms.history_page_size)
        return page(request, "history.html", user, calls=rows, q=q, page_no=max(0, page_no))

    @app.get("/agent", response_class=HTMLResponse, include_in_schema=False)
    async def agent_page(request: Request):
        user = await need(request, AGENTS, api=False)
        if isinstance(user, Response):
            return user
        cards = [h["card"] for h in await asyncio.to_thread(store.recent_handoffs, 20)]
        return page(request, "agent.html", user, cards=cards)

    @app.get("/agent/handoffs/{handoff_id}", response_class=HTMLResponse, include_in_schema=False)
    async def handoff_page(request: Request, handoff_id: str):
        user = await need(request, AGENTS, api=False)
        if isinstance(user, Response):
            return user
        h = await find_handoff(handoff_id)
        if h is None:
            return page(request, "error.html", user, 404, title="Fiche introuvable",
                        message="Aucune fiche de transfert ne porte cet identifiant.")
        return page(request, "handoff.html", user, card=h["card"])

    # -- JSON API ---------------------------------------------------------------------------
    @app.get("/api/me", tags=["monitor"])
    async def api_me(request: Request):
        user = await need(request, AGENTS, api=True)
        if isinstance(user, Response):
            return user
        return secure(JSONResponse({"username": user.username, "role": user.role, "csrf_token": user.csrf}))

    @app.get("/api/calls", tags=["monitor"])
    async def api_calls(request: Request):
        user = await need(request, SUPERVISORS, api=True)
        if isinstance(user, Response):
            return user
        return secure(JSONResponse(board.live_calls()))

    @app.get("/api/history", tags=["monitor"])
    async def api_history(request: Request, q: str = "", limit: int = 50, offset: int = 0):
        user = await need(request, SUPERVISORS, api=True)
        if isinstance(user, Response):
            return user
        if not 0 <= offset <= MAX_OFFSET:
            return api_error(400, f"offset doit être compris entre 0 et {MAX_OFFSET}.")
        rows = await asyncio.to_thread(store.history, q[:200], max(1, min(limit, 500)), max(0, offset))
        return secure(JSONResponse(rows))

    @app.get("/api/calls/{call_id}", tags=["monitor"])
    async def api_call(request: Request, call_id: str):
        user = await need(request, SUPERVISORS, api=True)
        if isinstance(user, Response):
            return user
        detail = await call_detail(call_id)
        if detail is None:
            return api_error(404, "Appel introuvable.")
        return secure(JSONResponse(detail))

    @app.get("/api/handoffs", tags=["monitor"])
    async def api_handoffs(request: Request, limit: int = 20):
        user = await need(request, AGENTS, api=True)
        if isinstance(user, Response):
            return user
        rows = await asyncio.to_thread(store.recent_handoffs, max(1, min(limit, 200)))
        return secure(JSONResponse([h["card"] for h in rows]))

    @app.get("/api/handoffs/{handoff_id}", tags=["monitor"])
    async def api_handoff(request: Request, handoff_id: str):
        user = await need(request, AGENTS, api=True)
        if isinstance(user, Response):
            return user
        h = await find_handoff(handoff_id)
        if h is None:
            return api_error(404, "Fiche de transfert introuvable.")
        return secure(JSONResponse(h["card"]))

    async def live_call_or_error(call_id: str) -> Response | None:
        snap = board.snapshot(call_id)
        if snap is None and ctx.control.get(call_id) is None:
            return api_error(404, "Appel en cours introuvable.")
        if snap is not None and not snap["live"]:
            return api_error(409, "L'appel est terminé.")
        return None

    @app.post("/api/calls/{call_id}/transfer", tags=["monitor"])
    async def api_transfer(request: Request, call_id: str):
        form = await read_form(request)
        user = await action_user(request, form)
        if isinstance(user, Response):
            return user
        queue = str(form.get("queue") or (ms.queues[0] if ms.queues else ""))
        if queue not in ms.queues:
            return api_error(400, f"File d'attente inconnue : {queue[:50]!r}. Files : {', '.join(ms.queues)}.")
        err = await live_call_or_error(call_id)
        if err is not None:
            return err
        status = await ctx.control.transfer(call_id, queue, by=user.username)
        return secure(JSONResponse({"status": status, "queue": queue}))

    @app.post("/api/calls/{call_id}/hangup", tags=["monitor"])
    async def api_hangup(request: Request, call_id: str):
        form = await read_form(request)
        user = await action_user(request, form)
        if isinstance(user, Response):
            return user
        err = await live_call_or_error(call_id)
        if err is not None:
            return err
        status = await ctx.control.hangup(call_id, by=user.username)
        return secure(JSONResponse({"status": status}))

    # -- WebSockets -------------------------------------------------------------------------
    async def ws_user(ws: WebSocket, roles: frozenset[str]) -> User | None:
        user = await session_user(ws.cookies)
        if user is None or user.role not in roles or not same_origin(ws.headers):
            code = 4401 if user is None else 4403
            await ws.close(code=code)  # before accept: the handshake is refused with HTTP 403
            return None
        return user

    async def pump(ws: WebSocket, producer) -> None:
        """Run producer until it ends or the browser goes away."""
        async def drain():
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                while True:
                    await ws.receive_text()

        reader = asyncio.create_task(drain())
        writer = asyncio.create_task(producer())
        done, pending = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        for t in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for t in done:
            exc = t.exception()
            if exc and not isinstance(exc, (WebSocketDisconnect, RuntimeError)):
                raise exc

    @app.websocket("/monitor/ws")
    async def ws_monitor(ws: WebSocket):
        if await ws_user(ws, SUPERVISORS) is None:
            return
        await ws.accept()
        call_id = ws.query_params.get("call") or None
        client = board.client()
        metrics.MONITOR_CLIENTS.labels("monitor").inc()

        async def produce():
            if call_id:
                await ws.send_json({"type": "snapshot", "call": await call_detail(call_id)})
            else:
                await ws.send_json({"type": "calls", "calls": board.live_calls()})
            async for ev in client:
                if call_id:
                    if ev.call_id != call_id:
                        continue
                    metrics.MONITOR_EVENT_LAG.observe(max(0.0, time.time() - ev.ts))
                    await ws.send_json({"type": "event", "event": ev.to_dict()})
                elif ev.type not in ("transcript_partial", "bot_text", "transcript_final"):
                    live = board.calls.get(ev.call_id)
                    summary = live.summary() if live else {"id": ev.call_id, "live": False}
                    await ws.send_json({"type": "call", "call": summary, "event": ev.type})

        try:
            await pump(ws, produce)
        finally:
            metrics.MONITOR_CLIENTS.labels("monitor").dec()
            await client.close()

    @app.websocket("/agent/ws")
    async def ws_agent(ws: WebSocket):
        if await ws_user(ws, AGENTS) is None:
            return
        await ws.accept()
        queue = ws.query_params.get("queue") or None
        client = board.client()
        metrics.MONITOR_CLIENTS.labels("agent").inc()

        async def produce():
            await ws.send_json({"type": "ready"})
            async for ev in client:
                if ev.type == "handoff" and (queue is None or ev.data.get("queue") == queue):
                    await ws.send_json({"type": "handoff", "card": ev.data.get("card")})

        try:
            await pump(ws, produce)
        finally:
            metrics.MONITOR_CLIENTS.labels("agent").dec()
            await client.close()

    @app.websocket("/monitor/ws/listen/{call_id}")
    async def ws_listen(ws: WebSocket, call_id: str):
        if await ws_user(ws, SUPERVISORS) is None:
            return
        await ws.accept()
        live = board.snapshot(call_id)
        if ctx.control.get(call_id) is None and not (ctx.control.can_listen(call_id) and live and live["live"]):
            await ws.send_json({"type": "error", "message": "L'écoute n'est possible que sur le serveur "
                                "qui traite cet appel, ou l'appel est terminé."})
            await ws.close(code=4404)
            return
        listener = ctx.control.listen(call_id)

        async def produce():
            rate = None
            async for pcm, r in listener:
                if r != rate:
                    rate = r
                    await ws.send_json({"type": "audio", "rate": r, "format": "s16le"})
                await ws.send_bytes(pcm)
            await ws.send_json({"type": "end"})

        try:
            await pump(ws, produce)
        finally:
            ctx.control.stop_listening(listener)


__all__ = ["MonitorContext", "mount"]

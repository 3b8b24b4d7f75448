"""HTTP side of the monitor: French pages, JSON API and WebSockets for supervisors and agents.

`mount(app, ctx)` adds the monitor's routers (routes/: login, pages, api, service, knowledge, sockets)
to the worker's FastAPI app. Pages: /login, /monitor (live calls), /monitor/calls/{id}, /monitor/history,
/monitor/tableau-de-bord (service figures), /monitor/connaissances (unanswered questions, discrepancies),
/agent, /agent/handoffs/{id}. API: /api/me, /api/calls, /api/calls/{id}, /api/history, /api/stats,
/api/stats.csv, /api/gaps, POST /api/gaps/{id}/status, /api/discrepancies, /api/handoffs,
/api/handoffs/{id}, POST /api/calls/{id}/transfer|hangup. WebSockets: /monitor/ws (list, or one call
with ?call=ID), /agent/ws, /monitor/ws/listen/{id}. Anonymous: 401 (API, WebSocket) or redirect to
/login (pages); wrong role: 403; actions need the session's CSRF token (form field csrf_token or header
X-CSRF-Token) and a same-origin Origin. Roles: admin and supervisor see everything, agent the handoffs,
documentation the knowledge pages only.
"""

from __future__ import annotations

import contextlib

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from voicebot.monitor.auth import make_login_limiter
from voicebot.monitor.context import MonitorContext
from voicebot.monitor.deps import HERE, Refused, refused_response
from voicebot.monitor.gaps import GapClusterer
from voicebot.monitor.live import LiveBoard
from voicebot.monitor.routes import api, knowledge, login, pages, service, sockets


def mount(app: FastAPI, ctx: MonitorContext) -> None:
    """Add the monitor's routes to app; the live board starts and stops with the app's lifespan."""
    if ctx.board is None:
        ctx.board = LiveBoard(ctx.store, ctx.bus)
    if ctx.limiter is None:
        ctx.limiter = make_login_limiter(ctx.calls_settings, ctx.settings.login_max_failures,
                                         ctx.settings.login_window_s)
    if ctx.clusterer is None:
        ctx.clusterer = GapClusterer(ctx.store, ctx.embedder)
    app.state.monitor = ctx
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
    app.add_exception_handler(Refused, refused_response)
    app.mount("/monitor/static", StaticFiles(directory=str(HERE / "static")), name="monitor-static")
    for module in (login, pages, api, service, knowledge, sockets):
        app.include_router(module.router)


__all__ = ["MonitorContext", "mount"]

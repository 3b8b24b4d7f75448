"""JSON API: who am I, live calls, one call, history (supervisors); handoffs (agents); transfer and
hang-up actions (supervisors, CSRF and same origin checked by the `supervisor_action` dependency)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from voicebot.monitor.auth import AGENTS, EVERYONE, SUPERVISORS, User
from voicebot.monitor.context import MonitorContext
from voicebot.monitor.deps import MAX_OFFSET, Action, api_error, get_ctx, require, secure, supervisor_action
from voicebot.monitor.views import call_detail, find_handoff

router = APIRouter(prefix="/api", tags=["monitor"])
Supervisor = Annotated[User, Depends(require(SUPERVISORS, api=True))]
Agent = Annotated[User, Depends(require(AGENTS, api=True))]
SupervisorAction = Annotated[Action, Depends(supervisor_action)]
Anyone = Annotated[User, Depends(require(EVERYONE, api=True))]


@router.get("/me")
async def api_me(user: Anyone):
    return secure(JSONResponse({"username": user.username, "role": user.role, "csrf_token": user.csrf}))


@router.get("/calls")
async def api_calls(request: Request, user: Supervisor):
    board = get_ctx(request).board
    assert board is not None
    return secure(JSONResponse(board.live_calls()))


@router.get("/history")
async def api_history(request: Request, user: Supervisor, q: str = "", limit: int = 50, offset: int = 0):
    if not 0 <= offset <= MAX_OFFSET:
        return api_error(400, f"offset doit être compris entre 0 et {MAX_OFFSET}.")
    rows = await asyncio.to_thread(get_ctx(request).store.history, q[:200], max(1, min(limit, 500)),
                                   max(0, offset))
    return secure(JSONResponse(rows))


@router.get("/calls/{call_id}")
async def api_call(request: Request, call_id: str, user: Supervisor):
    detail = await call_detail(get_ctx(request), call_id)
    if detail is None:
        return api_error(404, "Appel introuvable.")
    return secure(JSONResponse(detail))


@router.get("/handoffs")
async def api_handoffs(request: Request, user: Agent, limit: int = 20):
    rows = await asyncio.to_thread(get_ctx(request).store.recent_handoffs, max(1, min(limit, 200)))
    return secure(JSONResponse([h["card"] for h in rows]))


@router.get("/handoffs/{handoff_id}")
async def api_handoff(request: Request, handoff_id: str, user: Agent):
    h = await find_handoff(get_ctx(request), handoff_id)
    if h is None:
        return api_error(404, "Fiche de transfert introuvable.")
    return secure(JSONResponse(h["card"]))


def live_call_or_error(ctx: MonitorContext, call_id: str) -> Response | None:
    assert ctx.board is not None
    snap = ctx.board.snapshot(call_id)
    if snap is None and ctx.control.get(call_id) is None:
        return api_error(404, "Appel en cours introuvable.")
    if snap is not None and not snap["live"]:
        return api_error(409, "L'appel est terminé.")
    return None


@router.post("/calls/{call_id}/transfer")
async def api_transfer(request: Request, call_id: str, action: SupervisorAction):
    ctx = get_ctx(request)
    queues = ctx.settings.queues
    queue = str(action.form.get("queue") or (queues[0] if queues else ""))
    if queue not in queues:
        return api_error(400, f"File d'attente inconnue : {queue[:50]!r}. Files : {', '.join(queues)}.")
    err = live_call_or_error(ctx, call_id)
    if err is not None:
        return err
    status = await ctx.control.transfer(call_id, queue, by=action.user.username)
    return secure(JSONResponse({"status": status, "queue": queue}))


@router.post("/calls/{call_id}/hangup")
async def api_hangup(request: Request, call_id: str, action: SupervisorAction):
    ctx = get_ctx(request)
    err = live_call_or_error(ctx, call_id)
    if err is not None:
        return err
    status = await ctx.control.hangup(call_id, by=action.user.username)
    return secure(JSONResponse({"status": status}))

"""French HTML pages: live calls, one call, history (supervisors); handoff cards (agents)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from voicebot.monitor.auth import AGENTS, SUPERVISORS, User
from voicebot.monitor.deps import MAX_OFFSET, get_ctx, page, require
from voicebot.monitor.views import call_detail, find_handoff

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
Supervisor = Annotated[User, Depends(require(SUPERVISORS, api=False))]
Agent = Annotated[User, Depends(require(AGENTS, api=False))]


@router.get("/monitor")
async def calls_page(request: Request, user: Supervisor):
    board = get_ctx(request).board
    assert board is not None
    return page(request, "calls.html", user, calls=board.live_calls())


@router.get("/monitor/calls/{call_id}")
async def call_page(request: Request, call_id: str, user: Supervisor):
    ctx = get_ctx(request)
    detail = await call_detail(ctx, call_id)
    if detail is None:
        return page(request, "error.html", user, 404, title="Appel introuvable",
                    message="Aucun appel ne porte cet identifiant.")
    return page(request, "call.html", user, call=detail, listen_here=ctx.control.can_listen(call_id))


@router.get("/monitor/history")
async def history_page(request: Request, user: Supervisor, q: str = "", page_no: int = 0):
    ms, store = get_ctx(request).settings, get_ctx(request).store
    if not 0 <= page_no * ms.history_page_size <= MAX_OFFSET:  # the database's integers are 64-bit
        return page(request, "error.html", user, 400, title="Page invalide", message="Ce numéro de page n'existe pas.")
    rows = await asyncio.to_thread(store.history, q[:200], ms.history_page_size,
                                   max(0, page_no) * ms.history_page_size)
    return page(request, "history.html", user, calls=rows, q=q, page_no=max(0, page_no))


@router.get("/agent")
async def agent_page(request: Request, user: Agent):
    cards = [h["card"] for h in await asyncio.to_thread(get_ctx(request).store.recent_handoffs, 20)]
    return page(request, "agent.html", user, cards=cards)


@router.get("/agent/handoffs/{handoff_id}")
async def handoff_page(request: Request, handoff_id: str, user: Agent):
    h = await find_handoff(get_ctx(request), handoff_id)
    if h is None:
        return page(request, "error.html", user, 404, title="Fiche introuvable",
                    message="Aucune fiche de transfert ne porte cet identifiant.")
    return page(request, "handoff.html", user, card=h["card"])

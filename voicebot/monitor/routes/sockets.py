"""WebSockets: the live list or one call's events (/monitor/ws), handoff cards (/agent/ws) and
listen-in audio (/monitor/ws/listen/{id}). The role check refuses the handshake before accept."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect

from voicebot.calls import metrics
from voicebot.monitor.auth import AGENTS, SUPERVISORS, User
from voicebot.monitor.deps import get_ctx, require_ws
from voicebot.monitor.views import call_detail

router = APIRouter()
Supervisor = Annotated[User, Depends(require_ws(SUPERVISORS))]
Agent = Annotated[User, Depends(require_ws(AGENTS))]
LIST_HIDES = ("transcript_partial", "bot_text", "transcript_final")


async def pump(ws: WebSocket, producer: Callable[[], Awaitable[None]]) -> None:
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


@router.websocket("/monitor/ws")
async def ws_monitor(ws: WebSocket, user: Supervisor):
    ctx = get_ctx(ws)
    board = ctx.board
    assert board is not None
    await ws.accept()
    call_id = ws.query_params.get("call") or None
    client = board.client()
    metrics.MONITOR_CLIENTS.labels("monitor").inc()

    async def produce():
        if call_id:
            await ws.send_json({"type": "snapshot", "call": await call_detail(ctx, call_id)})
        else:
            await ws.send_json({"type": "calls", "calls": board.live_calls()})
        async for ev in client:
            if call_id:
                if ev.call_id != call_id:
                    continue
                metrics.MONITOR_EVENT_LAG.observe(max(0.0, time.time() - ev.ts))
                await ws.send_json({"type": "event", "event": ev.to_dict()})
            elif ev.type not in LIST_HIDES:
                live = board.calls.get(ev.call_id)
                summary = live.summary() if live else {"id": ev.call_id, "live": False}
                await ws.send_json({"type": "call", "call": summary, "event": ev.type})

    try:
        await pump(ws, produce)
    finally:
        metrics.MONITOR_CLIENTS.labels("monitor").dec()
        await client.close()


@router.websocket("/agent/ws")
async def ws_agent(ws: WebSocket, user: Agent):
    board = get_ctx(ws).board
    assert board is not None
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


@router.websocket("/monitor/ws/listen/{call_id}")
async def ws_listen(ws: WebSocket, call_id: str, user: Supervisor):
    ctx = get_ctx(ws)
    control = ctx.control
    assert ctx.board is not None
    await ws.accept()
    live = ctx.board.snapshot(call_id)
    if control.get(call_id) is None and not (control.can_listen(call_id) and live and live["live"]):
        await ws.send_json({"type": "error", "message": "L'écoute n'est possible que sur le serveur "
                            "qui traite cet appel, ou l'appel est terminé."})
        await ws.close(code=4404)
        return
    listener = control.listen(call_id)

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
        control.stop_listening(listener)

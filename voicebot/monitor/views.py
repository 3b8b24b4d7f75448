"""Data the monitor's pages and API show about one call or handoff, merged from the store and the live board."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from voicebot.monitor.context import MonitorContext
from voicebot.monitor.labels import STATE_FR
from voicebot.monitor.live import _turn_view

SHOWN_EVENTS = ["barge_in", "dtmf", "silence", "transfer", "error", "alert", "call_ended"]


def _stored_detail(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "state": row["state"], "state_label": STATE_FR.get(row["state"], row["state"]),
        "started_at": row["started_at"], "ended_at": row["ended_at"],
        "duration_s": round((row["ended_at"] or time.time()) - row["started_at"], 1),
        "caller": row["caller"], "channel": row["channel"], "worker": row["worker_id"],
        "topic": row["topic"], "live": row["ended_at"] is None, "end_reason": row["end_reason"] or "",
        "ended_abnormally": bool(row["abnormal"]), "transferred": bool(row["transferred"]),
        "alerts": [{"kind": k, "message": "", "ts": None} for k in row["alerts"] or []],
        "partial": "", "bot_partial": "",
    }


async def call_detail(ctx: MonitorContext, call_id: str) -> dict[str, Any] | None:
    """One call: the live board's view while it runs on some worker, else the stored record."""
    store, board = ctx.store, ctx.board
    assert board is not None
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
        assert row is not None
        detail = _stored_detail(row)
    detail["turns"] = len(turns)
    detail["turns_detail"] = [turns[k] for k in sorted(turns)]
    if row is not None:
        evs = await asyncio.to_thread(store.events, call_id, SHOWN_EVENTS)
        detail["events"] = [{"type": e["type"], "ts": e["ts"], "data": e["data"]} for e in evs]
        detail["handoffs"] = [h["id"] for h in await asyncio.to_thread(store.recent_handoffs, 10, call_id)]
        if row["alerts"] and snap is None:
            msgs = {e["data"].get("kind"): e["data"].get("message", "") for e in detail["events"]
                    if e["type"] == "alert"}
            detail["alerts"] = [{"kind": k, "message": msgs.get(k, ""), "ts": None} for k in row["alerts"]]
    else:
        detail["events"], detail["handoffs"] = [], ([snap["handoff_id"]] if snap and snap["handoff_id"] else [])
    return detail


async def find_handoff(ctx: MonitorContext, handoff_id: str) -> dict[str, Any] | None:
    """A handoff by its id, or the latest handoff of a call given by the call's id."""
    h = await asyncio.to_thread(ctx.store.get_handoff, handoff_id)
    if h is None:
        recent = await asyncio.to_thread(ctx.store.recent_handoffs, 1, handoff_id)
        h = recent[0] if recent else None
    return h

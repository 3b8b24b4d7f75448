"""Knowledge pages for document owners and supervisors: questions the bot could not answer, grouped by
topic (GET /api/gaps, POST /api/gaps/{id}/status) and discrepancies between document versions
(GET /api/discrepancies), on /monitor/connaissances. The documentation role sees redacted questions
only: no call id, no transcript."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from voicebot.calls import gaps as gap_store
from voicebot.monitor.auth import KNOWLEDGE, SUPERVISORS, User
from voicebot.monitor.context import MonitorContext
from voicebot.monitor.deps import Action, api_error, checked_action, get_ctx, page, require, secure
from voicebot.monitor.labels import DIFF_KIND_FR, GAP_KIND_FR, GAP_STATUS_FR
from voicebot.monitor.routes.service import BadWindow, parse_time

log = logging.getLogger(__name__)
router = APIRouter()
OwnerPage = Annotated[User, Depends(require(KNOWLEDGE, api=False))]
Owner = Annotated[User, Depends(require(KNOWLEDGE, api=True))]
From = Annotated[str, Query(alias="from", max_length=40)]
DEFAULT_SPAN_S = 30 * 86400
RECENT_S = 30 * 86400
PAGE_REFRESH_LIMIT = 100  # questions embedded while a page waits (about 3 ms each)


async def owner_action(request: Request) -> Action:
    return await checked_action(request, KNOWLEDGE)


OwnerAction = Annotated[Action, Depends(owner_action)]


def _likely_scheme(ctx: MonitorContext, label: str, cache: dict[str, str]) -> str:
    """The scheme of the best passage for the topic's question, when the topic's questions had none."""
    if label in cache:
        return cache[label]
    service = ctx.knowledge_service()
    scheme = ""
    if service is not None:
        try:
            hits = service.search(label, k=1)
            scheme = hits[0].chunk.scheme if hits else ""
        except Exception as exc:
            log.warning("likely scheme lookup failed", extra={"error": str(exc)})
    cache[label] = scheme
    return scheme


def gaps_report(ctx: MonitorContext, start: float, end: float, limit: int, show_calls: bool) -> dict[str, Any]:
    """Topics of the window as grouped so far (blocking: run in a thread); new questions are grouped
    in the background (context.py) and show as `pending` until then."""
    data = gap_store.report(ctx.store.engine, start, end, limit)
    cache = ctx.scheme_cache
    for t in data["topics"]:
        t["scheme_guessed"] = not t["scheme"]
        if not t["scheme"]:
            t["scheme"] = _likely_scheme(ctx, t["label"], cache)
        t["status_label"] = GAP_STATUS_FR.get(t["status"], t["status"])
        t["kinds_fr"] = {GAP_KIND_FR.get(k, k): n for k, n in t["kinds"].items()}
        if not show_calls:
            for e in t["examples"]:
                e.pop("call_id", None)
    return data


@router.get("/monitor/connaissances", response_class=HTMLResponse, include_in_schema=False)
async def knowledge_page(request: Request, user: OwnerPage):
    return page(request, "knowledge.html", user, statuses=GAP_STATUS_FR, show_calls=user.role in SUPERVISORS)


@router.get("/api/gaps", tags=["monitor"])
async def api_gaps(request: Request, user: Owner, frm: From = "", to: str = "", limit: int = 50):
    """Unanswered questions in [from, to) grouped by topic, most frequent first."""
    try:
        end = parse_time(to, "to") or time.time()
        start = parse_time(frm, "from") or end - DEFAULT_SPAN_S
    except BadWindow as e:
        return api_error(400, str(e))
    if end <= start:
        return api_error(400, "La fin de la période doit suivre son début.")
    ctx = get_ctx(request)
    data = await asyncio.to_thread(gaps_report, ctx, start, end, max(1, min(limit, 200)), user.role in SUPERVISORS)
    if data["pending"] and not ctx.wake_clusterer():
        await asyncio.to_thread(ctx.clusterer.refresh, PAGE_REFRESH_LIMIT)  # no background task: do it now
        data = await asyncio.to_thread(gaps_report, ctx, start, end, max(1, min(limit, 200)), user.role in SUPERVISORS)
    return secure(JSONResponse(data))


@router.post("/api/gaps/{topic_id}/status", tags=["monitor"])
async def api_gap_status(request: Request, topic_id: int, action: OwnerAction):
    """Mark a topic handled ("document_added", "out_of_scope") or open again ("")."""
    status = str(action.form.get("status") or "")
    if status not in gap_store.STATUSES:
        return api_error(400, "Statut inconnu : « document_added » (document ajouté), « out_of_scope » "
                              "(hors périmètre) ou vide (à traiter).")
    ok = await asyncio.to_thread(gap_store.mark, get_ctx(request).store.engine, topic_id, status,
                                 action.user.username)
    if not ok:
        return api_error(404, "Sujet introuvable.")
    return secure(JSONResponse({"id": topic_id, "status": status, "status_label": GAP_STATUS_FR[status]}))


def discrepancies(ctx: MonitorContext, now: float) -> dict[str, Any]:
    """`kb diff` with, per scheme, how many callers asked about it lately: the urgent ones first."""
    service = ctx.knowledge_service()
    if service is None:
        return {"available": False, "items": []}
    demand = gap_store.scheme_demand(ctx.store.engine, now - RECENT_S)
    items = []
    for d in service.diff():
        item = d.as_dict()
        item["kind_label"] = DIFF_KIND_FR.get(item["kind"], item["kind"])
        item["demand"] = demand.get(d.scheme, {"calls": 0, "last_asked": None, "unanswered": 0})
        items.append(item)
    items.sort(key=lambda i: (-(i["demand"]["calls"] + i["demand"]["unanswered"]), i["scheme"], i["field"]))
    return {"available": True, "recent_days": RECENT_S // 86400, "items": items}


@router.get("/api/discrepancies", tags=["monitor"])
async def api_discrepancies(request: Request, user: Owner):
    data = await asyncio.to_thread(discrepancies, get_ctx(request), time.time())
    return secure(JSONResponse(data))

"""Service figures for supervisors: the dashboard page, GET /api/stats (JSON) and /api/stats.csv."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from voicebot.calls import stats
from voicebot.monitor.auth import SUPERVISORS, User
from voicebot.monitor.deps import api_error, get_ctx, page, require, secure
from voicebot.monitor.labels import PATH_FR, TRANSFER_REASON_FR

router = APIRouter()
SupervisorPage = Annotated[User, Depends(require(SUPERVISORS, api=False))]
Supervisor = Annotated[User, Depends(require(SUPERVISORS, api=True))]
MAX_SPAN_S = {"hour": 62 * 86400, "day": 731 * 86400}
DEFAULT_SPAN_S = {"hour": 86400, "day": 30 * 86400}
From = Annotated[str, Query(alias="from", max_length=40)]


class BadWindow(ValueError):
    """A from/to/group the API refuses, with the French message to show."""


def parse_time(text: str, name: str) -> float | None:
    """Epoch seconds, or an ISO date / date-time in the server's time zone."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise BadWindow(f"Paramètre {name} illisible : {text[:40]!r} (attendu : 2026-12-01 ou 2026-12-01T08:00).")


def window(start: str, end: str, group: str, now: float | None = None) -> stats.Window:
    if group not in stats.GROUPS:
        raise BadWindow("Paramètre group : « hour » (par heure) ou « day » (par jour).")
    to = parse_time(end, "to") or (now or time.time())
    frm = parse_time(start, "from") or to - DEFAULT_SPAN_S[group]
    if to <= frm:
        raise BadWindow("La fin de la période doit suivre son début.")
    if to - frm > MAX_SPAN_S[group]:
        raise BadWindow("Période trop longue pour ce regroupement : choisissez « day » ou raccourcissez.")
    offset = time.localtime(frm).tm_gmtoff
    return stats.Window(frm, to, group, int(offset))


async def compute(request: Request, start: str, end: str, group: str) -> dict[str, Any] | Response:
    try:
        w = window(start, end, group)
    except BadWindow as e:
        return api_error(400, str(e))
    data = await asyncio.to_thread(stats.service_stats, get_ctx(request).store.engine, w)
    data["labels"] = {"paths": PATH_FR, "transfer_reasons": TRANSFER_REASON_FR}
    return data


@router.get("/monitor/tableau-de-bord", response_class=HTMLResponse, include_in_schema=False)
async def dashboard_page(request: Request, user: SupervisorPage):
    return page(request, "dashboard.html", user)


@router.get("/api/stats", tags=["monitor"])
async def api_stats(request: Request, user: Supervisor, frm: From = "", to: str = "", group: str = "hour"):
    """Service figures for [from, to): totals, rates, percentiles, transfers, answer paths, schemes, series."""
    data = await compute(request, frm, to, group)
    return data if isinstance(data, Response) else secure(JSONResponse(data))


CSV_COLUMNS = [("start", "Début"), ("received", "Appels reçus"), ("contained", "Traités par le bot seul"),
               ("transferred", "Transférés"), ("abandoned", "Abandonnés"), ("refused_capacity", "Refusés (saturation)"),
               ("containment_rate", "Taux de traitement par le bot"), ("transfer_rate", "Taux de transfert"),
               ("latency_p50_ms", "Délai de réponse médian (ms)"), ("latency_p95_ms", "Délai de réponse p95 (ms)")]


@router.get("/api/stats.csv", tags=["monitor"])
async def api_stats_csv(request: Request, user: Supervisor, frm: From = "", to: str = "", group: str = "hour"):
    """The per-hour (or per-day) series as CSV for a spreadsheet (French headers, ';' separated)."""
    data = await compute(request, frm, to, group)
    if isinstance(data, Response):
        return data
    buf = io.StringIO()
    out = csv.writer(buf, delimiter=";")
    out.writerow([label for _, label in CSV_COLUMNS])
    for p in data["series"]:
        row = [datetime.fromtimestamp(p["start"]).strftime("%Y-%m-%d %H:%M")]
        row += ["" if p[k] is None else str(p[k]).replace(".", ",") for k, _ in CSV_COLUMNS[1:]]
        out.writerow(row)
    name = f"voicebot-chiffres-{datetime.fromtimestamp(data['from']).strftime('%Y%m%d-%H%M')}.csv"
    return secure(Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8",
                           headers={"Content-Disposition": f'attachment; filename="{name}"'}))

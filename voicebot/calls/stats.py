"""Service figures over a time window, computed in the database with the same SQLAlchemy Core queries on SQLite and PostgreSQL: calls received, contained by the bot, transferred (by reason and queue), abandoned, refused for capacity; handle time and voice-to-voice latency percentiles; answers by path; schemes asked about. Calls are counted in the window of their start, turns in the window of their end.

Whole hours (group=hour) or whole days (group=day) inside the window are read from the counters the
store keeps as it writes (rollup.py: a month by day is a few thousand rows whatever the number of
calls); the partial hour or day at each end of the window is computed from the rows themselves with
GROUP BY queries through covering indexes (ix_calls_stats, ix_turns_stats, ix_handoffs_stats). Both
give the same figures (tested). Percentiles are nearest-rank over histograms (20 ms bins for latency,
5 s for handle time): a percentile is the lower edge of its bin, at most 20 ms or 5 s under.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Float, Integer, and_, case, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from voicebot.calls import rollup
from voicebot.calls.rollup import HANDLE_BIN_S, LATENCY_BIN_MS
from voicebot.calls.schema import calls, handoffs, refusals, turns
from voicebot.calls.store import read_snapshot

GROUPS = {"hour": 3600, "day": 86400}
PERCENTILES = (50, 95)
OUTCOMES = ("contained", "transferred", "abandoned", "interrupted")


class epoch_bucket(FunctionElement):
    """floor((ts + offset) / size) as an integer: the time bucket of an epoch timestamp."""

    type = Integer()
    inherit_cache = True
    name = "epoch_bucket"


@compiles(epoch_bucket)
def _bucket_default(element, compiler, **kw):  # SQLite: CAST truncates, timestamps are positive
    ts, offset, size = list(element.clauses)
    return f"CAST(({compiler.process(ts, **kw)} + {compiler.process(offset, **kw)}) / " \
           f"{compiler.process(size, **kw)} AS INTEGER)"


@compiles(epoch_bucket, "postgresql")
def _bucket_pg(element, compiler, **kw):  # PostgreSQL rounds on CAST: floor first
    ts, offset, size = list(element.clauses)
    return f"CAST(FLOOR(({compiler.process(ts, **kw)} + {compiler.process(offset, **kw)}) / " \
           f"{compiler.process(size, **kw)}) AS BIGINT)"


@dataclass(frozen=True)
class Window:
    """A half-open time window [start, end) in epoch seconds."""

    start: float
    end: float
    group: str = "hour"
    tz_offset_s: int = 0  # seconds east of UTC, so that days start at local midnight

    @property
    def size(self) -> int:
        return GROUPS[self.group]

    def bucket(self, col: ColumnElement) -> ColumnElement:
        # Constants inlined, not bound: PostgreSQL matches a GROUP BY expression to the SELECT one only
        # when they are written the same, and two bind parameters are two different expressions.
        return epoch_bucket(col, literal_column(repr(float(int(self.tz_offset_s))), Float),
                            literal_column(repr(float(self.size)), Float))

    def bucket_start(self, b: int) -> float:
        return b * self.size - self.tz_offset_s


@dataclass
class Agg:
    """The figures of a time range, in a form two ranges can be added in."""

    counts: dict[int, Counter] = field(default_factory=dict)  # bucket -> received, outcomes, refused
    handle: Counter = field(default_factory=Counter)  # 5 s bin -> ended calls
    handle_ms: int = 0
    v2v: dict[int, Counter] = field(default_factory=dict)  # bucket -> 20 ms bin -> turns
    paths: Counter = field(default_factory=Counter)
    scheme_calls: Counter = field(default_factory=Counter)
    scheme_questions: Counter = field(default_factory=Counter)
    transfers: Counter = field(default_factory=Counter)  # (reason, queue) -> handoffs

    def add(self, other: Agg) -> None:
        for b, c in other.counts.items():
            self.counts.setdefault(b, Counter()).update(c)
        for b, c in other.v2v.items():
            self.v2v.setdefault(b, Counter()).update(c)
        for name in ("handle", "paths", "scheme_calls", "scheme_questions", "transfers"):
            getattr(self, name).update(getattr(other, name))
        self.handle_ms += other.handle_ms


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _count_if(cond: ColumnElement) -> ColumnElement:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _bin(value: ColumnElement, width: float) -> ColumnElement:
    return epoch_bucket(value, literal_column("0.0", Float), literal_column(repr(float(width)), Float))


def _calls_raw(conn, w: Window, start: float, end: float, agg: Agg) -> None:
    """Calls started in [start, end): counts per bucket, handle-time histogram, schemes."""
    c = calls.c
    ended = c.ended_at.is_not(None)
    clean = and_(ended, c.transferred.is_(False), c.abnormal.is_(False))
    cond = {"contained": and_(clean, c.turns > 0), "transferred": and_(ended, c.transferred.is_(True)),
            "abandoned": and_(clean, c.turns == 0),
            "interrupted": and_(ended, c.abnormal.is_(True), c.transferred.is_(False))}
    b = w.bucket(c.started_at).label("b")
    h = case((ended, _bin(c.ended_at - c.started_at, HANDLE_BIN_S)), else_=literal_column("-1", Integer)).label("h")
    stmt = (select(b, h, func.count(), *(_count_if(v) for v in cond.values()),
                   func.coalesce(func.sum(case((ended, c.ended_at - c.started_at), else_=0.0)), 0.0))
            .where(c.started_at >= start, c.started_at < end).group_by(b, h))
    for row in conn.execute(stmt):
        bucket, hbin, received, *outs, handle_s = row
        acc = agg.counts.setdefault(int(bucket), Counter())
        acc["received"] += int(received)
        acc.update({k: int(v) for k, v in zip(cond, outs, strict=True)})
        if int(hbin) >= 0:
            agg.handle[int(hbin)] += int(received)
            agg.handle_ms += int(round(float(handle_s) * 1000))
    stmt = (select(c.scheme, func.count()).where(c.started_at >= start, c.started_at < end, c.scheme != "")
            .group_by(c.scheme))
    agg.scheme_calls.update({s: int(n) for s, n in conn.execute(stmt)})


def _turns_raw(conn, w: Window, start: float, end: float, agg: Agg) -> None:
    """Turns ended in [start, end): latency histogram per bucket, answers by path, questions by scheme."""
    t = turns.c
    b, v = w.bucket(t.ended_at).label("b"), _bin(t.v2v_ms, LATENCY_BIN_MS).label("v")
    stmt = (select(b, v, func.count()).where(t.ended_at >= start, t.ended_at < end, t.v2v_ms.is_not(None))
            .group_by(b, v))
    for bucket, vbin, n in conn.execute(stmt):
        agg.v2v.setdefault(int(bucket), Counter())[max(0, int(vbin))] += int(n)
    stmt = (select(t.path, t.scheme, func.count()).where(t.ended_at >= start, t.ended_at < end)
            .group_by(t.path, t.scheme))
    for path, scheme, n in conn.execute(stmt):
        agg.paths[path or "other"] += int(n)
        if scheme:
            agg.scheme_questions[scheme] += int(n)


def _others_raw(conn, w: Window, start: float, end: float, agg: Agg) -> None:
    """Handoffs and refusals in [start, end)."""
    h = handoffs.c
    stmt = (select(h.reason, h.queue, func.count()).where(h.created_at >= start, h.created_at < end)
            .group_by(h.reason, h.queue))
    agg.transfers.update({(r, q): int(n) for r, q, n in conn.execute(stmt)})
    b = w.bucket(refusals.c.ts).label("b")
    stmt = select(b, func.count()).where(refusals.c.ts >= start, refusals.c.ts < end).group_by(b)
    for bucket, n in conn.execute(stmt):
        agg.counts.setdefault(int(bucket), Counter())["refused"] += int(n)


def raw(conn, w: Window, start: float, end: float) -> Agg:
    agg = Agg()
    if end > start:
        _calls_raw(conn, w, start, end, agg)
        _turns_raw(conn, w, start, end, agg)
        _others_raw(conn, w, start, end, agg)
    return agg


def from_rollup(conn, w: Window, lo: int, hi: int) -> Agg:
    """Whole buckets [lo, hi) of the window read from the store's counters."""
    agg = Agg()
    shift = w.tz_offset_s // 3600 if w.group == "hour" else 0  # stored hours are UTC epoch hours
    for stored, metric, key, n in rollup.read(conn, "h" if w.group == "hour" else "d", lo - shift, hi - shift):
        b = stored + shift
        if metric in ("received", "refused", *OUTCOMES):
            agg.counts.setdefault(b, Counter())[metric] += n
        elif metric == "handle":
            agg.handle[int(key)] += n
        elif metric == "handle_ms":
            agg.handle_ms += n
        elif metric == "v2v":
            agg.v2v.setdefault(b, Counter())[int(key)] += n
        elif metric == "path":
            agg.paths[key] += n
        elif metric in ("scheme_calls", "scheme_questions"):
            getattr(agg, metric)[key] += n
        elif metric == "transfer":
            reason, _, queue = key.partition("|")
            agg.transfers[(reason, queue)] += n
    return agg


def collect(engine, w: Window, use_rollup: bool = True) -> Agg:
    """The window's figures: counters for its whole buckets, rows for the partial ones at each end."""
    size, off = w.size, w.tz_offset_s
    lo, hi = math.ceil((w.start + off) / size), math.floor((w.end + off) / size)
    with read_snapshot(engine) as conn:  # counters and rows of the same state, while calls are recorded
        if not use_rollup or lo >= hi:
            return raw(conn, w, w.start, w.end)
        agg = from_rollup(conn, w, lo, hi)
        agg.add(raw(conn, w, w.start, lo * size - off))
        agg.add(raw(conn, w, hi * size - off, w.end))
    return agg


def percentiles_of(hist: dict[int, int], width: float) -> dict[int, float]:
    """Nearest-rank percentiles from a {bin: count} histogram (lower edge of the bin)."""
    n = sum(v for v in hist.values() if v > 0)
    out: dict[int, float] = {}
    if not n:
        return out
    ranks = {p: max(1, -(-p * n // 100)) for p in PERCENTILES}
    seen = 0
    for k in sorted(hist):
        seen += max(0, hist[k])
        for p, r in ranks.items():
            if p not in out and seen >= r:
                out[p] = round(max(0, k) * width, 1)
    return out


def service_stats(engine, w: Window, use_rollup: bool = True) -> dict[str, Any]:
    """Everything the dashboard shows for window `w` (JSON-ready)."""
    return assemble(w, collect(engine, w, use_rollup))


def assemble(w: Window, agg: Agg) -> dict[str, Any]:
    keys = ("received", *OUTCOMES, "refused")
    totals = {k: sum(c[k] for c in agg.counts.values()) for k in keys}
    ended = sum(totals[k] for k in OUTCOMES)
    handle = percentiles_of(agg.handle, HANDLE_BIN_S)
    v2v_all: Counter = Counter()
    for h in agg.v2v.values():
        v2v_all.update(h)
    v2v = percentiles_of(v2v_all, LATENCY_BIN_MS)
    points = []
    for b in sorted(set(agg.counts) | set(agg.v2v)):
        c = agg.counts.get(b, Counter())
        lat = percentiles_of(agg.v2v.get(b, {}), LATENCY_BIN_MS)
        points.append({"start": w.bucket_start(b), "received": c["received"], "contained": c["contained"],
                       "transferred": c["transferred"], "abandoned": c["abandoned"], "refused_capacity": c["refused"],
                       "containment_rate": _rate(c["contained"], c["received"]),
                       "transfer_rate": _rate(c["transferred"], c["received"]),
                       "latency_p50_ms": lat.get(50), "latency_p95_ms": lat.get(95)})
    top = sorted(((s, n) for s, n in agg.scheme_calls.items() if n > 0), key=lambda x: (-x[1], x[0]))[:10]
    return {
        "from": w.start, "to": w.end, "group": w.group, "received": totals["received"],
        **{k: totals[k] for k in OUTCOMES}, "ended": ended, "refused_capacity": totals["refused"],
        "containment_rate": _rate(totals["contained"], totals["received"]),
        "transfer_rate": _rate(totals["transferred"], totals["received"]),
        "handle_time_s": {"avg": round(agg.handle_ms / 1000 / ended, 1) if ended else None,
                          "p50": handle.get(50), "p95": handle.get(95)},
        "latency_ms": {"p50": v2v.get(50), "p95": v2v.get(95)},
        "transfers": [{"reason": r, "queue": q, "calls": n} for (r, q), n in
                      sorted(agg.transfers.items(), key=lambda x: (-x[1], x[0])) if n > 0],
        "answers_by_path": {k: n for k, n in agg.paths.items() if n > 0},
        "top_schemes": [{"scheme": s, "calls": n, "questions": agg.scheme_questions.get(s, 0)} for s, n in top],
        "series": points,
    }

"""Hourly and daily counters of the service figures, kept by the store as it writes calls, turns,
handoffs and refusals, so that a month of figures reads a few thousand small rows instead of every call.

A counter is (period "h" | "d", bucket, metric, key) -> n, incremented with an atomic upsert
(`n = n + excluded.n`) on SQLite and PostgreSQL alike. Hour buckets are epoch hours (UTC); day buckets
are local days (server time zone at the event). Metrics: received, contained, transferred, abandoned,
interrupted, handle_ms (sum) and handle (key: 5 s bin) of calls by start time; path, scheme_questions
and v2v (key: 20 ms bin) of turns by end time; scheme_calls (by call start); transfer (key
"reason|queue") by handoff time; refused by refusal time.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

from sqlalchemy import Connection, and_, delete, select

from voicebot.calls.schema import calls, handoffs, refusals, stats_rollup, turns

PERIODS = ("h", "d")
LATENCY_BIN_MS = 20.0
HANDLE_BIN_S = 5.0
Bumps = Counter  # (metric, key) -> delta


def bucket_of(ts: float, period: str) -> int:
    if period == "h":
        return int(ts // 3600)
    return int((ts + time.localtime(ts).tm_gmtoff) // 86400)


def outcome(transferred: bool, abnormal: bool, turns_count: int) -> str:
    """One of four exclusive outcomes of an ended call (the dashboard's definitions)."""
    if transferred:
        return "transferred"
    if abnormal:
        return "interrupted"
    return "contained" if turns_count > 0 else "abandoned"


def call_end_bumps(started_at: float, ended_at: float, transferred: bool, abnormal: bool, turns_count: int) -> Bumps:
    handle = max(0.0, ended_at - started_at)
    return Counter({(outcome(transferred, abnormal, turns_count), ""): 1,
                    ("handle", str(int(handle // HANDLE_BIN_S))): 1, ("handle_ms", ""): int(round(handle * 1000))})


def turn_bumps(path: str, scheme: str, v2v_ms: float | None, sign: int = 1) -> Bumps:
    b: Bumps = Counter({("path", path or "other"): sign})
    if scheme:
        b[("scheme_questions", scheme)] += sign
    if v2v_ms is not None and math.isfinite(v2v_ms):
        b[("v2v", str(int(max(0.0, v2v_ms) // LATENCY_BIN_MS)))] += sign
    return b


def bump(conn: Connection, insert, ts: float, items: Bumps) -> None:
    """Add `items` to the hour and day counters of `ts` (insert: the dialect's insert())."""
    rows = [dict(period=p, bucket=bucket_of(ts, p), metric=m, key=k[:120], n=d)
            for p in PERIODS for (m, k), d in items.items() if d]
    if rows:
        stmt = insert(stats_rollup)
        stmt = stmt.on_conflict_do_update(index_elements=["period", "bucket", "metric", "key"],
                                          set_={"n": stats_rollup.c.n + stmt.excluded.n})
        conn.execute(stmt, rows)


def read(conn: Connection, period: str, lo: int, hi: int) -> list[tuple[int, str, str, int]]:
    r = stats_rollup.c
    stmt = select(r.bucket, r.metric, r.key, r.n).where(r.period == period, r.bucket >= lo, r.bucket < hi)
    return [(int(b), m, k, int(n)) for b, m, k, n in conn.execute(stmt)]


def purge(conn: Connection, cutoff: float) -> None:
    r = stats_rollup.c
    for p in PERIODS:
        conn.execute(delete(stats_rollup).where(and_(r.period == p, r.bucket < bucket_of(cutoff, p))))


def dialect_insert(conn: Connection):
    from sqlalchemy.dialects import postgresql, sqlite

    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert


def rebuild(conn: Connection, insert=None) -> int:
    """Recompute every counter from the rows (a store upgraded from v1, or after a bulk load)."""
    insert = insert or dialect_insert(conn)
    conn.execute(delete(stats_rollup))
    acc: dict[tuple[str, int, str, str], int] = Counter()

    def add(ts: float, items: Bumps) -> None:
        for p in PERIODS:
            b = bucket_of(ts, p)
            for (m, k), d in items.items():
                acc[(p, b, m, k[:120])] += d

    c = calls.c
    for started, ended, transferred, abnormal, n_turns, scheme in conn.execute(
            select(c.started_at, c.ended_at, c.transferred, c.abnormal, c.turns, c.scheme)):
        items: Bumps = Counter({("received", ""): 1})
        if ended is not None:
            items.update(call_end_bumps(started, ended, bool(transferred), bool(abnormal), int(n_turns or 0)))
        if scheme:
            items[("scheme_calls", scheme)] += 1
        add(started, items)
    t = turns.c
    for ended, path, scheme, v2v in conn.execute(select(t.ended_at, t.path, t.scheme, t.v2v_ms)):
        add(ended, turn_bumps(path, scheme, v2v))
    h = handoffs.c
    for created, reason, queue in conn.execute(select(h.created_at, h.reason, h.queue)):
        add(created, Counter({("transfer", f"{reason}|{queue}"): 1}))
    for (ts,) in conn.execute(select(refusals.c.ts)):
        add(ts, Counter({("refused", ""): 1}))
    rows: list[dict[str, Any]] = [dict(period=p, bucket=b, metric=m, key=k, n=n)
                                  for (p, b, m, k), n in acc.items() if n]
    for i in range(0, len(rows), 5000):
        conn.execute(insert(stats_rollup), rows[i:i + 5000])
    return len(rows)

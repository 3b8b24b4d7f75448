"""Documentation gaps in the call store: unanswered questions, their topics, and the SQL that reports them (counts in a window, first/last seen, questions since a topic was marked handled).

The clustering itself (embeddings) lives in `voicebot.monitor.gaps`; this module only reads and writes
rows, with the same SQLAlchemy Core statements on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import and_, bindparam, case, func, select, update

from voicebot.calls.schema import gap_topics, questions, turns
from voicebot.calls.store import read_snapshot

STATUSES = ("", "document_added", "out_of_scope")
GAP_KINDS = ("no_answer", "guard_rejected", "clarification_failed", "transferred")
EXAMPLES = 3


@dataclass
class Pending:
    """Questions not yet in a topic, with their cached embeddings when already computed."""

    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    schemes: list[str] = field(default_factory=list)
    vectors: list[np.ndarray | None] = field(default_factory=list)


def to_blob(v: np.ndarray) -> bytes:
    return np.asarray(v, dtype=np.float32).tobytes()


def from_blob(b: bytes | None) -> np.ndarray | None:
    return np.frombuffer(b, dtype=np.float32) if b else None


def pending(engine, limit: int) -> Pending:
    q = questions.c
    stmt = (select(q.id, q.text, q.scheme, q.embedding).where(q.topic_id.is_(None)).order_by(q.ts, q.id).limit(limit))
    out = Pending()
    with engine.connect() as conn:
        for r in conn.execute(stmt):
            out.ids.append(r[0])
            out.texts.append(r[1])
            out.schemes.append(r[2] or "")
            out.vectors.append(from_blob(r[3]))
    return out


def topics(engine) -> list[dict[str, Any]]:
    """Every topic with its centroid (for assignment)."""
    t = gap_topics.c
    with engine.connect() as conn:
        rows = conn.execute(select(t.id, t.centroid, t.size, t.scheme).order_by(t.id)).mappings().all()
    return [{"id": r["id"], "centroid": from_blob(r["centroid"]), "size": r["size"], "scheme": r["scheme"]}
            for r in rows]


def save_clusters(engine, new_topics: list[dict[str, Any]], changed: list[dict[str, Any]],
                  assigned: list[dict[str, Any]]) -> None:
    """One transaction: create topics, update centroids/sizes, set questions' topic (and drop their cached embedding: a placed question is only counted from then on; the topic keeps the centroid).

    `new_topics` items carry a temporary negative `id` that `assigned` items may refer to.
    """
    t = gap_topics.c
    with engine.begin() as conn:
        real: dict[int, int] = {}
        for nt in new_topics:
            res = conn.execute(gap_topics.insert().values(label=nt["label"], scheme=nt["scheme"],
                                                          centroid=to_blob(nt["centroid"]), size=nt["size"],
                                                          status="", marked_by=""))
            real[nt["id"]] = int(res.inserted_primary_key[0])
        if changed:
            conn.execute(update(gap_topics).where(t.id == bindparam("tid")).values(
                centroid=bindparam("c"), size=bindparam("n"), scheme=bindparam("s")),
                [{"tid": c["id"], "c": to_blob(c["centroid"]), "n": c["size"], "s": c["scheme"]} for c in changed])
        by_topic: dict[int, list[str]] = {}
        for a in assigned:
            by_topic.setdefault(real.get(a["topic"], a["topic"]), []).append(a["qid"])
        for tid, qids in by_topic.items():  # one UPDATE per topic and 500 questions, not one per question
            for i in range(0, len(qids), 500):
                conn.execute(update(questions).where(questions.c.id.in_(qids[i:i + 500]))
                             .values(topic_id=tid, embedding=None))


def mark(engine, topic_id: int, status: str, by: str, now: float | None = None) -> bool:
    """Mark a topic handled (or reopen it with status ''); False when there is no such topic."""
    if status not in STATUSES:
        raise ValueError(status)
    with engine.begin() as conn:
        res = conn.execute(update(gap_topics).where(gap_topics.c.id == topic_id).values(
            status=status, marked_at=(now or time.time()) if status else None, marked_by=by[:100] if status else ""))
        return bool(res.rowcount)


def _examples(conn, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The latest questions of each topic: one indexed LIMIT query per topic (ix_questions_topic)."""
    q = questions.c
    out: dict[int, list[dict[str, Any]]] = {}
    for tid in ids:
        stmt = (select(q.text, q.ts, q.kind, q.call_id).where(q.topic_id == tid)
                .order_by(q.ts.desc(), q.id).limit(EXAMPLES))
        out[tid] = [{"text": r.text, "ts": r.ts, "kind": r.kind, "call_id": r.call_id} for r in conn.execute(stmt)]
    return out


def _since_mark(conn, ids: list[int]) -> dict[int, dict[str, Any]]:
    q, t = questions.c, gap_topics.c
    stmt = (select(q.topic_id, func.count(), func.max(q.ts)).select_from(questions.join(gap_topics, t.id == q.topic_id))
            .where(q.topic_id.in_(ids), t.marked_at.is_not(None), q.ts > t.marked_at).group_by(q.topic_id))
    return {int(r[0]): {"count": int(r[1]), "last_seen": r[2]} for r in conn.execute(stmt)}


def report(engine, start: float, end: float, limit: int = 50, scheme: str | None = None) -> dict[str, Any]:
    """Topics with questions in [start, end): counts (total and by kind), first/last seen, examples, status and the questions that came after the topic was marked handled."""
    q, t = questions.c, gap_topics.c
    kinds = GAP_KINDS
    agg = (select(q.topic_id, func.count().label("count"), func.min(q.ts).label("first_seen"),
                  func.max(q.ts).label("last_seen"),
                  *(func.coalesce(func.sum(case((q.kind == k, 1), else_=0)), 0).label(k) for k in kinds))
           .where(q.ts >= start, q.ts < end, q.topic_id.is_not(None)).group_by(q.topic_id).subquery())
    stmt = (select(t.id, t.label, t.scheme, t.status, t.marked_at, t.marked_by, agg.c.count, agg.c.first_seen,
                   agg.c.last_seen, *(agg.c[k] for k in kinds))
            .select_from(gap_topics.join(agg, agg.c.topic_id == t.id))
            .order_by(agg.c.count.desc(), t.id).limit(limit))
    if scheme:
        stmt = stmt.where(t.scheme == scheme)
    with read_snapshot(engine) as conn:  # topics and pending count from the same state (see read_snapshot)
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
        ids = [int(r["id"]) for r in rows]
        examples = _examples(conn, ids) if ids else {}
        after = _since_mark(conn, ids) if ids else {}
        totals = conn.execute(select(func.count(), func.coalesce(func.sum(case((q.topic_id.is_(None), 1), else_=0)), 0))
                              .where(q.ts >= start, q.ts < end)).first()
    out = []
    for r in rows:
        tid = int(r["id"])
        out.append({"id": tid, "label": r["label"], "scheme": r["scheme"], "count": int(r["count"]),
                    "first_seen": r["first_seen"], "last_seen": r["last_seen"],
                    "kinds": {k: int(r[k]) for k in kinds if r[k]}, "status": r["status"] or "",
                    "marked_at": r["marked_at"], "marked_by": r["marked_by"] or "",
                    "since_mark": after.get(tid, {"count": 0, "last_seen": None}) if r["marked_at"] else None,
                    "examples": examples.get(tid, [])})
    return {"from": start, "to": end, "questions": int(totals[0]) if totals else 0,
            "pending": int(totals[1]) if totals else 0, "topics": out}


def scheme_demand(engine, since: float) -> dict[str, dict[str, Any]]:
    """Per scheme: calls that asked about it since `since` and unanswered questions about it."""
    tc, q = turns.c, questions.c
    with engine.connect() as conn:
        asked = conn.execute(select(tc.scheme, func.count(func.distinct(tc.call_id)), func.max(tc.ended_at))
                             .where(tc.ended_at >= since, tc.scheme != "").group_by(tc.scheme)).all()
        gaps = conn.execute(select(q.scheme, func.count()).where(and_(q.ts >= since, q.scheme != ""))
                            .group_by(q.scheme)).all()
    out: dict[str, dict[str, Any]] = {}
    for s, n, last in asked:
        out[s] = {"calls": int(n), "last_asked": last, "unanswered": 0}
    for s, n in gaps:
        out.setdefault(s, {"calls": 0, "last_asked": None, "unanswered": 0})["unanswered"] = int(n)
    return out

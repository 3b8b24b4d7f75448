"""Service figures and documentation gaps on a big call store: the dashboard's and the knowledge page's
queries on N generated calls (with turns, handoffs, refusals) and Q unanswered questions, on SQLite or on
a PostgreSQL the benchmark starts itself (as the tests do).

Generates the rows straight into the store (SQLAlchemy Core, the app's schema and migrations), builds
the counters and groups every question into topics (the gap clustering, timed), then times over --runs
repetitions, after one untimed first run (reported apart as `first_s`, cold caches): `/api/stats`
(stats.service_stats) for 24 h by hour, 7 days by hour and 30 days by day, and `/api/gaps`
(gaps.report) for 30 days. Wall and CPU per run: CPU of this process, plus on PostgreSQL the CPU of the
server's processes (where the queries run). The windows end at the generation time, so a database built
once with --keep DIR is measured again later on exactly the same rows.

    PYTHONPATH=. .venv/bin/python benchmarks/monitor_stats_bench.py --calls 100000 --questions 100000 \
        --db sqlite --keep /tmp/vb-stats --out benchmarks/results/2026-12-02-vm-2cpu/monitor_stats.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from voicebot.calls import gaps, rollup, stats  # noqa: E402
from voicebot.calls.schema import calls, handoffs, questions, refusals, turns  # noqa: E402
from voicebot.calls.store import CallStore  # noqa: E402
from voicebot.knowledge.embedding import get_embedder  # noqa: E402
from voicebot.monitor.gaps import GapClusterer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from calls_support import postgres_server  # noqa: E402  (PostgreSQL started as the tests start it)

SCHEMES = ["imagine-r", "navigo", "amie", "bacheliers-meritants", "cheque-numerique", "manuels", "innovup",
           "bourse-sanitaire-sociale", "equitables", "fonds-garantie"]
PATHS = [("llm", "passed/llm", 0.55), ("extractive", "skipped/llm", 0.15), ("no_answer", "skipped/no_answer", 0.15),
         ("guard_rejected", "rejected/extractive", 0.08), ("other", "", 0.07)]
QUESTIONS = [
    "Comment obtenir une aide pour passer le permis de conduire ?", "La région aide-t-elle à payer le permis ?",
    "Quel est le prix de la cantine au lycée ?", "Combien coûte le repas à la cantine du lycée ?",
    "Où déposer le dossier de bourse pour une formation d'infirmier ?",
    "Je cherche le formulaire de la bourse sanitaire",
    "Est-ce que je peux avoir un ordinateur gratuit pour mon fils ?",
    "Comment recevoir un ordinateur portable au lycée ?",
    "Quels sont les horaires de la piscine régionale ?", "La piscine est-elle ouverte le dimanche ?",
    "Y a-t-il une aide pour les apprentis qui déménagent ?", "Aide au logement pour un apprenti, c'est possible ?",
    "Comment contester une amende dans le RER ?", "J'ai reçu une amende dans le train, que faire ?",
    "Le passe Navigo est-il remboursé en cas de grève ?", "Remboursement du Navigo pendant les grèves",
    "Éteins toutes les lumières du premier étage", "Quel temps fait-il demain ?",
]


def generate(store: CallStore, n_calls: int, n_questions: int, days: int, now: float, seed: int = 7) -> dict[str, int]:
    """Rows spread over `days` up to `now`, with a day/night rhythm; returns the counts written."""
    rnd = random.Random(seed)
    start = now - days * 86400
    call_rows, turn_rows, handoff_rows = [], [], []
    weights = [p[2] for p in PATHS]
    for i in range(n_calls):
        t = start + rnd.random() * days * 86400
        if rnd.random() < 0.6 and not 8 <= time.localtime(t).tm_hour < 19:
            t = start + rnd.random() * days * 86400  # fewer calls at night
        cid = f"bench{i:07d}"
        n_turns = 0 if rnd.random() < 0.05 else rnd.randint(1, 4)
        transferred = n_turns > 0 and rnd.random() < 0.2
        handle = 20 + n_turns * rnd.uniform(10, 40)
        first_scheme = ""
        for k in range(n_turns):
            path, guard, _ = rnd.choices(PATHS, weights)[0]
            scheme = rnd.choice(SCHEMES) if path in ("llm", "extractive", "guard_rejected") else ""
            first_scheme = first_scheme or scheme
            turn_rows.append(dict(call_id=cid, turn=k, started_at=None, ended_at=t + 10 + k * 12,
                                  caller_text="question", bot_text="réponse", latency_ms={}, sources=[], guard=guard,
                                  interrupted=False, path=path, scheme=scheme, v2v_ms=rnd.lognormvariate(7.0, 0.35)))
        call_rows.append(dict(id=cid, channel=rnd.choice(["sip", "ws-pcm"]), caller="06 •••••• 00", worker_id="w",
                              started_at=t, ended_at=t + handle,
                              end_reason="transfer" if transferred else "caller_hangup",
                              abnormal=rnd.random() < 0.005, state="ended", topic="", turns=n_turns,
                              transferred=transferred, alerts=[], scheme=first_scheme))
        if transferred:
            handoff_rows.append(dict(id=f"h{i}", call_id=cid, created_at=t + handle, card={},
                                     reason=rnd.choice(["caller_request", "no_answer", "dtmf", "supervisor"]),
                                     queue=rnd.choice(["accueil", "transport", "lycees", "aides"])))
    _bulk(store, calls, call_rows)  # calls first: turns refer to them
    _bulk(store, turns, turn_rows)
    _bulk(store, handoffs, handoff_rows)
    _bulk(store, refusals, [dict(ts=start + rnd.random() * days * 86400, channel="sip", reason="capacity")
                            for _ in range(n_calls // 100)])
    return {"calls": len(call_rows), "turns": len(turn_rows), "handoffs": len(handoff_rows),
            "questions": _questions(store, rnd, call_rows, n_questions)}


def _questions(store: CallStore, rnd: random.Random, call_rows: list[dict], n: int) -> int:
    """Unanswered questions with their embedding cached (the real USE vectors of a few phrasings)."""
    embedder = get_embedder("use")
    variants = [q if v == 0 else f"{q} Merci." if v == 1 else f"Bonjour, {q[0].lower()}{q[1:]}"
                for q in QUESTIONS for v in range(3)]
    vectors = embedder.embed_queries(variants)
    rows = []
    for i in range(n):
        j = rnd.randrange(len(variants))
        c = call_rows[rnd.randrange(len(call_rows))]
        rows.append(dict(id=f"q{i}", call_id=c["id"], turn=100 + i, ts=c["started_at"] + 15,
                         kind=rnd.choice(["no_answer", "no_answer", "guard_rejected", "transferred"]),
                         text=variants[j], scheme=rnd.choice(SCHEMES + [""]), topic_id=None,
                         embedding=gaps.to_blob(vectors[j])))
    _bulk(store, questions, rows)
    return len(rows)


def _bulk(store: CallStore, table, rows: list[dict], chunk: int = 5000) -> None:
    with store.engine.begin() as conn:
        for i in range(0, len(rows), chunk):
            conn.execute(insert(table), rows[i:i + chunk])


class CpuMeter:
    """CPU seconds of this process and, on PostgreSQL, of the server's processes (where the queries run)."""

    def __init__(self, pg_data: Path | None = None) -> None:
        self.server: psutil.Process | None = None
        if pg_data is not None:
            pid = int((pg_data / "postmaster.pid").read_text().split()[0])
            self.server = psutil.Process(pid)

    def read(self) -> tuple[float, float]:
        own = time.process_time()
        if self.server is None:
            return own, 0.0
        total = 0.0
        for p in [self.server, *self.server.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:  # a backend that ended meanwhile
                pass
        return own, total


def _pct(values: list[float], p: int) -> float:
    """Nearest-rank percentile."""
    v = sorted(values)
    return round(v[max(0, math.ceil(p / 100 * len(v)) - 1)], 4)


def timed(fn: Callable[[], Any], runs: int, cpu: CpuMeter) -> dict[str, Any]:
    """One untimed-for-percentiles first run (cold caches, reported as first_s), then `runs` timed runs."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    wall, own, server = [], [], []
    for _ in range(runs):
        c0, s0 = cpu.read()
        t0 = time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        c1, s1 = cpu.read()
        own.append(c1 - c0)
        server.append(s1 - s0)
    out = {"runs": runs, "first_s": round(first, 4), "wall_p50_s": _pct(wall, 50), "wall_p95_s": _pct(wall, 95),
           "wall_max_s": round(max(wall), 4), "cpu_p50_s": _pct(own, 50), "cpu_p95_s": _pct(own, 95)}
    if cpu.server is not None:
        out.update(server_cpu_p50_s=_pct(server, 50), server_cpu_p95_s=_pct(server, 95),
                   total_cpu_p95_s=_pct([a + b for a, b in zip(own, server, strict=True)], 95))
    return out


def build(store: CallStore, args: argparse.Namespace) -> dict[str, Any]:
    """Generate the rows, build the counters, group every question: once per kept database."""
    store.migrate()
    now = time.time()
    t0 = time.perf_counter()
    counts = generate(store, args.calls, args.questions, args.days, now)
    meta: dict[str, Any] = {"now": now, "calls": args.calls, "questions": args.questions, "days": args.days,
                            "generated": counts, "generate_s": round(time.perf_counter() - t0, 1)}
    t0 = time.perf_counter()
    with store.engine.begin() as conn:  # bulk-loaded rows: build the counters as a v1 -> v2 upgrade does
        meta["generated"]["counter_rows"] = rollup.rebuild(conn)
    meta["rebuild_counters_s"] = round(time.perf_counter() - t0, 1)
    clusterer = GapClusterer(store, lambda: get_embedder("use"))
    t0 = time.perf_counter()
    placed = clusterer.refresh(limit=args.questions)
    meta["cluster_all"] = {"questions": placed, "seconds": round(time.perf_counter() - t0, 2),
                           "topics": len(gaps.topics(store.engine))}
    meta["cluster_incremental_200"] = _incremental(store, clusterer, 200, now)
    if store.dialect == "postgresql":
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return meta


def measure(store: CallStore, meta: dict[str, Any], runs: int, cpu: CpuMeter) -> dict[str, Any]:
    """The dashboard's three views and the knowledge page's gaps, windows ending at the generation time."""
    now = meta["now"]
    offset = time.localtime(now).tm_gmtoff
    windows = {"stats_24h_by_hour": stats.Window(now - 86400, now, "hour", offset),
               "stats_7d_by_hour": stats.Window(now - 7 * 86400, now, "hour", offset),
               "stats_30d_by_day": stats.Window(now - 30 * 86400, now, "day", offset)}
    out: dict[str, Any] = {}
    for name, w in windows.items():
        out[name] = timed(lambda w=w: stats.service_stats(store.engine, w), runs, cpu)
    out["gaps_30d"] = timed(lambda: gaps.report(store.engine, now - 30 * 86400, now + 60), runs, cpu)
    check = stats.service_stats(store.engine, windows["stats_30d_by_day"])
    out["check_30d"] = {k: check[k] for k in ("received", "contained", "transferred", "abandoned", "refused_capacity")}
    rows_only = stats.service_stats(store.engine, windows["stats_30d_by_day"], use_rollup=False)
    out["check_30d"]["counters_equal_rows"] = rows_only == check
    g = gaps.report(store.engine, now - 30 * 86400, now + 60)
    out["check_gaps_30d"] = {"questions": g["questions"], "pending": g["pending"], "topics": len(g["topics"])}
    return out


def _incremental(store: CallStore, clusterer: GapClusterer, n: int, now: float) -> dict[str, float]:
    """n new questions (never embedded): the refresh a page load triggers after a busy hour."""
    rnd = random.Random(11)
    with store.engine.connect() as conn:
        cid = conn.execute(text("SELECT id FROM calls LIMIT 1")).scalar()
    rows = [dict(id=f"new{i}", call_id=cid, turn=10_000_000 + i, ts=now - 60, kind="no_answer",
                 text=f"{rnd.choice(QUESTIONS)} (appel {i})", scheme="", topic_id=None, embedding=None)
            for i in range(n)]
    _bulk(store, questions, rows)
    t0 = time.perf_counter()
    placed = clusterer.refresh()
    return {"questions": placed, "seconds": round(time.perf_counter() - t0, 2)}


@contextmanager
def database(db: str, keep: Path | None) -> Iterator[tuple[CallStore, Path, CpuMeter]]:
    """The store (SQLite file or PostgreSQL cluster) in `keep` (kept) or in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="vb-stats-") as tmp:
        home = (keep / db) if keep else Path(tmp)
        if keep and home.exists() and not (home / "meta.json").exists():
            shutil.rmtree(home)  # a build that was stopped half-way: start it again from nothing
        home.mkdir(parents=True, exist_ok=True)
        if db == "sqlite":
            store = CallStore(f"sqlite:///{home}/calls.sqlite3")
            try:
                yield store, home, CpuMeter()
            finally:
                store.close()
            return
        with postgres_server(home / "pgdata") as url:
            store = CallStore(url)
            try:
                yield store, home, CpuMeter(home / "pgdata")
            finally:
                store.close()


def run_db(db: str, args: argparse.Namespace) -> dict[str, Any]:
    with database(db, args.keep) as (store, home, cpu):
        meta_file = home / "meta.json"
        meta = json.loads(meta_file.read_text()) if meta_file.exists() else None
        wanted = {"calls": args.calls, "questions": args.questions, "days": args.days}
        if meta is None or any(meta.get(k) != v for k, v in wanted.items()):
            if meta is not None:
                raise SystemExit(f"{home} holds another database ({meta_file}): remove it or choose another --keep")
            meta = build(store, args)
            meta_file.write_text(json.dumps(meta, indent=1))
            meta["built_now"] = True
        return {"database": meta, "load_avg_before": os.getloadavg(),
                "queries": measure(store, meta, args.runs, cpu), "load_avg_after": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--questions", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--keep", type=Path, default=None, help="keep the generated database here and reuse it")
    ap.add_argument("--build-only", action="store_true", help="generate (or check) the kept database, no timing")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.build_only:
        if args.keep is None:
            raise SystemExit("--build-only needs --keep")
        with database(args.db, args.keep) as (store, home, _):
            if not (home / "meta.json").exists():
                (home / "meta.json").write_text(json.dumps(build(store, args), indent=1))
            print((home / "meta.json").read_text())
        return
    result = {"host": {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
                       "load_avg_at_start": os.getloadavg()},
              "command": " ".join(sys.argv), "args": {k: str(v) for k, v in vars(args).items()},
              "results": {args.db: run_db(args.db, args)}}
    print(json.dumps(result, indent=1, ensure_ascii=False), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

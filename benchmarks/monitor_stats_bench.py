"""Service figures and documentation gaps on a big call store: the dashboard's and the knowledge page's
queries on N generated calls (with turns, handoffs, refusals) and Q unanswered questions.

Generates the rows straight into the store (SQLAlchemy Core, the app's schema and migrations), then
times, over --runs repetitions each: `/api/stats` (stats.service_stats) for 24 h by hour, 7 days by
hour and the whole period by day; `/api/gaps` (gaps.report) for 30 days; and the gap clustering: all Q
questions at once (embeddings cached with the rows, as after a first pass) and an incremental refresh
of 200 new questions embedded by the real USE model. Writes p50/p95 per query to --out.

    PYTHONPATH=. .venv/bin/python benchmarks/monitor_stats_bench.py --calls 100000 --questions 100000 \
        --db sqlite --out benchmarks/results/2026-12-01-vm-2cpu/monitor_stats.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from voicebot.calls import gaps, rollup, stats  # noqa: E402
from voicebot.calls.schema import calls, handoffs, questions, refusals, turns  # noqa: E402
from voicebot.calls.store import CallStore  # noqa: E402
from voicebot.knowledge.embedding import get_embedder  # noqa: E402
from voicebot.monitor.gaps import GapClusterer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from calls_support import postgres_server  # noqa: E402  (a throwaway PostgreSQL, as the tests start it)

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


def generate(store: CallStore, n_calls: int, n_questions: int, days: int, seed: int = 7) -> dict[str, int]:
    """Rows spread over `days` up to now, with a day/night rhythm; returns the counts written."""
    rnd = random.Random(seed)
    now = time.time()
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


def timed(fn, runs: int) -> dict[str, float]:
    """Wall-clock p50/p95 and the process CPU time per run (the machine may be shared)."""
    times, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    times.sort()
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    return {"p50_s": round(statistics.median(times), 4), "p95_s": round(p95, 4),
            "max_s": round(times[-1], 4), "cpu_p50_s": round(statistics.median(cpu), 4), "runs": runs}


def bench(store: CallStore, args: argparse.Namespace) -> dict:
    store.migrate()
    t0, started = time.perf_counter(), time.time()
    counts = generate(store, args.calls, args.questions, args.days)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with store.engine.begin() as conn:  # bulk-loaded rows: build the counters as a v1 -> v2 upgrade does
        counts["counter_rows"] = rollup.rebuild(conn)
    rebuild_s = time.perf_counter() - t0
    if store.dialect == "postgresql":
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    now = time.time()
    offset = time.localtime(now).tm_gmtoff
    windows = {"24h_by_hour": stats.Window(now - 86400, now, "hour", offset),
               "7d_by_hour": stats.Window(now - 7 * 86400, now, "hour", offset),
               "all_by_day": stats.Window(started - args.days * 86400 - 60, now, "day", offset)}
    out: dict = {"generated": counts, "generate_s": round(gen_s, 1), "rebuild_counters_s": round(rebuild_s, 1),
                 "stats": {}, "stats_from_rows_only": {}}
    for name, w in windows.items():
        out["stats"][name] = timed(lambda w=w: stats.service_stats(store.engine, w), args.runs)
    for name, w in windows.items():  # the same figures without the counters, for comparison
        out["stats_from_rows_only"][name] = timed(lambda w=w: stats.service_stats(store.engine, w, use_rollup=False),
                                                  max(3, args.runs // 4))
    check = stats.service_stats(store.engine, windows["all_by_day"])
    out["check_all"] = {k: check[k] for k in ("received", "contained", "transferred", "abandoned", "refused_capacity")}
    clusterer = GapClusterer(store, lambda: get_embedder("use"))
    t0 = time.perf_counter()
    placed = clusterer.refresh(limit=args.questions)
    out["cluster_all"] = {"questions": placed, "seconds": round(time.perf_counter() - t0, 2),
                          "topics": len(gaps.topics(store.engine))}
    out["gaps_report_30d"] = timed(lambda: gaps.report(store.engine, now - 30 * 86400, now + 60), args.runs)
    out["cluster_incremental_200"] = _incremental(store, clusterer, 200)
    return out


def _incremental(store: CallStore, clusterer: GapClusterer, n: int) -> dict[str, float]:
    """n new questions (never embedded): the refresh a page load triggers after a busy hour."""
    rnd = random.Random(11)
    with store.engine.connect() as conn:
        cid = conn.execute(text("SELECT id FROM calls LIMIT 1")).scalar()
    rows = [dict(id=f"new{i}", call_id=cid, turn=10_000_000 + i, ts=time.time(), kind="no_answer",
                 text=f"{rnd.choice(QUESTIONS)} (appel {i})", scheme="", topic_id=None, embedding=None)
            for i in range(n)]
    _bulk(store, questions, rows)
    t0 = time.perf_counter()
    placed = clusterer.refresh()
    return {"questions": placed, "seconds": round(time.perf_counter() - t0, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--questions", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    result = {"host": {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
                       "load_avg_at_start": os.getloadavg()},
              "args": {k: v for k, v in vars(args).items() if k != "out"}, "results": {}}
    for db in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        result["results"][db] = _run_db(db, args)
        result["results"][db]["load_avg_at_end"] = os.getloadavg()
        print(json.dumps({db: result["results"][db]}, indent=1, ensure_ascii=False), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")


def _run_db(db: str, args: argparse.Namespace) -> dict:
    if db == "sqlite":
        with tempfile.TemporaryDirectory(prefix="vb-stats-") as tmp:
            store = CallStore(f"sqlite:///{tmp}/calls.sqlite3")
            try:
                return bench(store, args)
            finally:
                store.close()
    with postgres_server() as url:
        store = CallStore(url)
        try:
            return bench(store, args)
        finally:
            store.close()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

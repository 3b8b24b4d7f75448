"""Knowledge-base benchmark: retrieval latency p50/p95 (sample base and a synthetic 10 000-chunk base),
ingestion throughput, and the embedder comparison on the eval set.

    python benchmarks/knowledge_bench.py                      # sample + synthetic 10 000 chunks
    python benchmarks/knowledge_bench.py --chunks 2000        # smaller synthetic base
    python benchmarks/knowledge_bench.py --compare-embedders  # use vs e5 on the eval set
    python benchmarks/knowledge_bench.py --postgres DSN       # same on PostgreSQL + pgvector
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voicebot.knowledge import evaluation  # noqa: E402
from voicebot.knowledge.embedding import get_embedder  # noqa: E402
from voicebot.knowledge.ingest import build_document, chunk_document, iter_documents  # noqa: E402
from voicebot.knowledge.service import KnowledgeService, open_store  # noqa: E402
from voicebot.knowledge.settings import SAMPLES_DIR, KnowledgeSettings  # noqa: E402

EVAL = SAMPLES_DIR.parent / "eval-idf.jsonl"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def timed_searches(service: KnowledgeService, questions: list[tuple[str, date]], rounds: int) -> dict[str, float]:
    total, embed = [], []
    for _ in range(rounds):
        for q, d in questions:
            t0 = time.perf_counter()
            vec = service.retriever.embed_query(q)
            t1 = time.perf_counter()
            service.retriever.search(q, d, service.settings.top_k, query_vector=vec)
            t2 = time.perf_counter()
            embed.append((t1 - t0) * 1000)
            total.append((t2 - t0) * 1000)
    return {"n": len(total), "p50_ms": pct(total, 0.5), "p95_ms": pct(total, 0.95),
            "embed_p50_ms": pct(embed, 0.5), "embed_p95_ms": pct(embed, 0.95)}


def synthetic_documents(n_chunks: int, seed: int = 7) -> list:
    """Variants of the sample documents (renamed schemes, shifted figures) until n_chunks chunks."""
    rng = random.Random(seed)
    base = list(iter_documents([SAMPLES_DIR]))
    docs, chunks, i = [], 0, 0
    while chunks < n_chunks:
        src = base[i % len(base)]
        i += 1
        body = src.body.replace(" €", f"{rng.randint(0, 9)} €").replace("Île-de-France", f"secteur {i}")
        meta = {"id": f"syn-{i}", "scheme": f"{src.scheme}-syn{i // len(base)}", "title": f"{src.title} ({i})",
                "audience": src.audience, "version": src.version, "effective_from": src.effective_from,
                "source_url": src.source_url, "queue": src.queue}
        doc = build_document(meta, body)
        docs.append(doc)
        chunks += len(chunk_document(doc))
    return docs


def ingest_docs(service: KnowledgeService, docs: list) -> dict[str, float]:
    t0 = time.perf_counter()
    n_chunks = 0
    service.store.set_embedder_name(service.embedder.name if service.embedder else None)
    for doc in docs:
        chunks = chunk_document(doc)
        vectors = service.embedder.embed_passages([c.indexed_text() for c in chunks]) if service.embedder else None
        service.store.upsert_document(doc, chunks, vectors)
        n_chunks += len(chunks)
    service.refresh_versions()
    dt = time.perf_counter() - t0
    return {"documents": len(docs), "chunks": n_chunks, "seconds": dt, "chunks_per_s": n_chunks / dt,
            "documents_per_s": len(docs) / dt}


def make_service(ks: KnowledgeSettings, dsn: str | None) -> KnowledgeService:
    embedder = get_embedder(ks.embedder, ks.embedder_threads)
    if dsn:
        from voicebot.knowledge.postgres_store import PostgresKnowledgeStore

        store = PostgresKnowledgeStore(dsn, dim=embedder.dim if embedder else 0)
        store.reset()
    else:
        store = open_store(ks)
    return KnowledgeService(store, embedder, ks)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=10_000, help="size of the synthetic base (0: skip)")
    ap.add_argument("--rounds", type=int, default=3, help="passes over the eval questions per measurement")
    ap.add_argument("--embedder", default="use", choices=("use", "e5", "none"))
    ap.add_argument("--compare-embedders", action="store_true")
    ap.add_argument("--postgres", metavar="DSN", help="benchmark PostgreSQL + pgvector instead of SQLite")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    items = evaluation.load(EVAL)
    questions = [(i.question, i.on_date) for i in items]
    results: dict[str, object] = {"machine": {"backend": "postgres" if args.postgres else "sqlite"}}
    tmp = Path(tempfile.mkdtemp(prefix="kb-bench-"))

    embedders = ["use", "e5"] if args.compare_embedders else [args.embedder]
    for name in embedders:
        t0 = time.perf_counter()
        emb = get_embedder(name)
        if emb is not None:
            emb.embed_queries(["chargement du modèle"])  # weights load lazily on first use
        load_s = time.perf_counter() - t0
        ks = KnowledgeSettings(sqlite_path=tmp / f"sample-{name}.sqlite3", embedder=name)
        service = make_service(ks, args.postgres)
        t0 = time.perf_counter()
        report = service.ingest([SAMPLES_DIR])
        ingest_s = time.perf_counter() - t0
        ev = asyncio.run(evaluation.run(service, items, "extractive"))
        results[f"sample/{name}"] = {
            "model_load_s": load_s, "ingest": {"chunks": report.chunks, "seconds": ingest_s,
                                               "chunks_per_s": report.chunks / ingest_s},
            "retrieval": timed_searches(service, questions, args.rounds),
            "eval": {k: getattr(ev, k) for k in ("hit1", "hit5", "mrr", "fact_accuracy", "forbidden_rate",
                                                 "correct_refusals", "false_refusals")},
        }
        service.close()

    if args.chunks:
        ks = KnowledgeSettings(sqlite_path=tmp / "synthetic.sqlite3", embedder=args.embedder)
        service = make_service(ks, args.postgres)
        service.ingest([SAMPLES_DIR])
        docs = synthetic_documents(args.chunks)
        results["synthetic/ingest"] = ingest_docs(service, docs)
        results["synthetic/retrieval"] = {"chunks": service.store.chunk_count(),
                                          **timed_searches(service, questions, args.rounds)}
        service.close()

    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        for key, value in results.items():
            print(f"{key}: {json.dumps(value, default=lambda o: round(o, 3) if isinstance(o, float) else str(o))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Multi-node knowledge store: PostgreSQL with pgvector, same `KnowledgeStore` interface as SQLite.

Full text: a `tsvector` over the same Snowball-stemmed, accent-folded text as SQLite (config 'simple',
so PostgreSQL adds no second stemming), ranked with `ts_rank`. Vectors: pgvector `vector(dim)` with
exact cosine distance (`<=>`), filtered to the versions in force (an ANN index would post-filter and
could miss in-force chunks; exact search over 10 000 chunks stays in milliseconds).
"""

from __future__ import annotations

import re
import threading
from datetime import date

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.rows import dict_row

from voicebot.knowledge.documents import Chunk, Discrepancy, Document
from voicebot.french.text import analyzed

IN_FORCE = "(d.effective_from <= %(day)s AND (d.valid_until IS NULL OR %(day)s < d.valid_until))"


def _schema(dim: int) -> str:
    vector_col = f"embedding vector({dim})," if dim else ""
    return f"""
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS kb_meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS kb_documents (
    id TEXT PRIMARY KEY, scheme TEXT NOT NULL, title TEXT NOT NULL, audience TEXT NOT NULL,
    version TEXT NOT NULL, effective_from DATE NOT NULL, effective_until DATE, valid_until DATE,
    source_url TEXT NOT NULL, queue TEXT NOT NULL, body TEXT NOT NULL, content_hash TEXT NOT NULL,
    path TEXT NOT NULL, format TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS kb_documents_scheme ON kb_documents(scheme, effective_from);
CREATE TABLE IF NOT EXISTS kb_chunks (
    seq BIGSERIAL, id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES kb_documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, heading_path TEXT[] NOT NULL, text TEXT NOT NULL, analyzed TEXT NOT NULL,
    {vector_col}
    tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', analyzed)) STORED
);
CREATE INDEX IF NOT EXISTS kb_chunks_doc ON kb_chunks(document_id);
CREATE INDEX IF NOT EXISTS kb_chunks_tsv ON kb_chunks USING gin(tsv);
CREATE TABLE IF NOT EXISTS kb_discrepancies (
    scheme TEXT NOT NULL, field TEXT NOT NULL, kind TEXT NOT NULL,
    old_value TEXT NOT NULL, old_date DATE, old_document TEXT NOT NULL, old_source TEXT NOT NULL,
    new_value TEXT NOT NULL, new_date DATE, new_document TEXT NOT NULL, new_source TEXT NOT NULL
);
"""


def _tsquery(terms: list[str]) -> str:
    clean = [re.sub(r"\W", "", t) for t in terms]
    return " | ".join(t for t in dict.fromkeys(clean) if t)


class PostgresKnowledgeStore:
    """`KnowledgeStore` on PostgreSQL + pgvector; one connection guarded by a lock (calls are short)."""

    def __init__(self, dsn: str, dim: int = 512) -> None:
        self.dim = dim
        self._db = psycopg.connect(dsn, autocommit=True, row_factory=dict_row)
        self._db.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(self._db)
        self._lock = threading.RLock()
        with self._db.transaction():
            for stmt in _schema(dim).split(";\n"):
                if stmt.strip():
                    self._db.execute(stmt)

    def document_hash(self, document_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT content_hash FROM kb_documents WHERE id = %s", (document_id,)).fetchone()
        return row["content_hash"] if row else None

    def upsert_document(self, doc: Document, chunks: list[Chunk], vectors: np.ndarray | None) -> None:
        with self._lock, self._db.transaction():
            self._db.execute("DELETE FROM kb_documents WHERE id = %s", (doc.id,))
            self._db.execute(
                "INSERT INTO kb_documents VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (doc.id, doc.scheme, doc.title, doc.audience, doc.version, doc.effective_from, doc.effective_until,
                 doc.valid_until, doc.source_url, doc.queue, doc.body, doc.content_hash, doc.path, doc.format),
            )
            with self._db.cursor() as cur:
                if self.dim and vectors is not None:
                    cur.executemany(
                        "INSERT INTO kb_chunks (id, document_id, ordinal, heading_path, text, analyzed, embedding) "
                        "VALUES (%s,%s,%s,%s,%s,%s,%s)",
                        [(c.id, doc.id, c.ordinal, list(c.heading_path), c.text, analyzed(c.indexed_text()),
                          vectors[i].astype(np.float32)) for i, c in enumerate(chunks)],
                    )
                else:
                    cur.executemany(
                        "INSERT INTO kb_chunks (id, document_id, ordinal, heading_path, text, analyzed) "
                        "VALUES (%s,%s,%s,%s,%s,%s)",
                        [(c.id, doc.id, c.ordinal, list(c.heading_path), c.text, analyzed(c.indexed_text()))
                         for c in chunks],
                    )

    def documents(self) -> list[Document]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM kb_documents ORDER BY scheme, effective_from, id").fetchall()
        return [Document(**{k: rows_v for k, rows_v in r.items()}) for r in rows]

    def set_valid_until(self, windows: dict[str, date | None]) -> None:
        with self._lock, self._db.transaction(), self._db.cursor() as cur:
            cur.executemany("UPDATE kb_documents SET valid_until = %s WHERE id = %s",
                            [(v, k) for k, v in windows.items()])

    def replace_discrepancies(self, items: list[Discrepancy]) -> None:
        with self._lock, self._db.transaction(), self._db.cursor() as cur:
            cur.execute("DELETE FROM kb_discrepancies")
            cur.executemany(
                "INSERT INTO kb_discrepancies VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                [(d.scheme, d.field, d.kind, d.old_value, d.old_date, d.old_document, d.old_source,
                  d.new_value, d.new_date, d.new_document, d.new_source) for d in items],
            )

    def discrepancies(self, scheme: str | None = None) -> list[Discrepancy]:
        sql = "SELECT * FROM kb_discrepancies"
        args: tuple[str, ...] = ()
        if scheme:
            sql += " WHERE scheme = %s"
            args = (scheme,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY scheme, new_date, field", args).fetchall()
        return [Discrepancy(**r) for r in rows]

    def lexical_search(self, terms: list[str], on_date: date | None, limit: int) -> list[tuple[str, float]]:
        query = _tsquery(terms)
        if not query:
            return []
        sql = ("SELECT c.id, ts_rank(c.tsv, q, 1) AS s FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id, "
               "to_tsquery('simple', %(q)s) q WHERE c.tsv @@ q")
        params: dict[str, object] = {"q": query, "limit": limit}
        if on_date is not None:
            sql += " AND " + IN_FORCE
            params["day"] = on_date
        sql += " ORDER BY s DESC, c.id LIMIT %(limit)s"
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [(r["id"], float(r["s"])) for r in rows]

    def dense_search(self, vector: np.ndarray, on_date: date | None, limit: int) -> list[tuple[str, float]]:
        if not self.dim:
            return []
        sql = ("SELECT c.id, 1 - (c.embedding <=> %(v)s) AS s FROM kb_chunks c JOIN kb_documents d "
               "ON d.id = c.document_id WHERE c.embedding IS NOT NULL")
        params: dict[str, object] = {"v": vector.astype(np.float32), "limit": limit}
        if on_date is not None:
            sql += " AND " + IN_FORCE
            params["day"] = on_date
        sql += " ORDER BY c.embedding <=> %(v)s, c.id LIMIT %(limit)s"
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [(r["id"], float(r["s"])) for r in rows]

    def chunks(self, ids: list[str]) -> list[Chunk]:
        if not ids:
            return []
        with self._lock:
            rows = self._db.execute(
                "SELECT c.id, c.document_id, c.ordinal, c.heading_path, c.text, d.scheme, d.title, d.version, "
                "d.audience, d.effective_from, d.valid_until, d.source_url, d.queue FROM kb_chunks c "
                "JOIN kb_documents d ON d.id = c.document_id WHERE c.id = ANY(%s)", (ids,),
            ).fetchall()
        by_id = {r["id"]: Chunk(**{**r, "heading_path": tuple(r["heading_path"])}) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def term_frequencies(self, terms: list[str]) -> dict[str, int]:
        clean = [t for t in dict.fromkeys(re.sub(r"\W", "", t) for t in terms) if t]
        if not clean:
            return {}
        cols = ", ".join(f"count(*) FILTER (WHERE tsv @@ to_tsquery('simple', %s)) AS c{i}" for i in range(len(clean)))
        with self._lock:
            row = self._db.execute(f"SELECT {cols} FROM kb_chunks", clean).fetchone()
        assert row is not None  # an aggregate query always returns its one row
        counts = {t: int(row[f"c{i}"]) for i, t in enumerate(clean)}
        return {t: counts.get(re.sub(r"\W", "", t), 0) for t in terms}

    def chunk_count(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT count(*) AS n FROM kb_chunks").fetchone()
        assert row is not None  # an aggregate query always returns its one row
        return int(row["n"])

    def embedder_name(self) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM kb_meta WHERE key = 'embedder'").fetchone()
        return (row["value"] or None) if row else None

    def set_embedder_name(self, name: str | None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO kb_meta VALUES ('embedder', %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (name or "",),
            )

    def reset(self) -> None:
        """Drop every table (tests and `kb ingest --reset`)."""
        with self._lock, self._db.transaction():
            self._db.execute("DROP TABLE IF EXISTS kb_chunks, kb_documents, kb_discrepancies, kb_meta CASCADE")
            for stmt in _schema(self.dim).split(";\n"):
                if stmt.strip():
                    self._db.execute(stmt)

    def close(self) -> None:
        with self._lock:
            self._db.close()

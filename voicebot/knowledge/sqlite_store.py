"""Embedded knowledge store: SQLite with FTS5 (French analysis) and in-memory dense vectors.

FTS5 uses `unicode61 remove_diacritics 2` on text that is already folded and Snowball-stemmed
(`text.analyzed`), and ranks with BM25. Vectors are float32 blobs in the chunk table, loaded once into a
numpy matrix (reloaded after writes): exact cosine search over 10 000 chunks takes about a millisecond.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import date
from pathlib import Path

import numpy as np

from voicebot.knowledge.documents import Chunk, Discrepancy, Document
from voicebot.french.text import analyzed

SCHEMA = """
CREATE TABLE IF NOT EXISTS kb_meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS kb_documents (
    id TEXT PRIMARY KEY, scheme TEXT NOT NULL, title TEXT NOT NULL, audience TEXT NOT NULL,
    version TEXT NOT NULL, effective_from TEXT NOT NULL, effective_until TEXT, valid_until TEXT,
    source_url TEXT NOT NULL, queue TEXT NOT NULL, body TEXT NOT NULL, content_hash TEXT NOT NULL,
    path TEXT NOT NULL, format TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS kb_documents_scheme ON kb_documents(scheme, effective_from);
CREATE TABLE IF NOT EXISTS kb_chunks (
    rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,
    document_id TEXT NOT NULL REFERENCES kb_documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, heading_path TEXT NOT NULL, text TEXT NOT NULL, vector BLOB
);
CREATE INDEX IF NOT EXISTS kb_chunks_doc ON kb_chunks(document_id);
CREATE VIRTUAL TABLE IF NOT EXISTS kb_chunks_fts USING fts5(
    analyzed, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS kb_vocab USING fts5vocab(kb_chunks_fts, row);
CREATE TABLE IF NOT EXISTS kb_discrepancies (
    scheme TEXT NOT NULL, field TEXT NOT NULL, kind TEXT NOT NULL,
    old_value TEXT NOT NULL, old_date TEXT, old_document TEXT NOT NULL, old_source TEXT NOT NULL,
    new_value TEXT NOT NULL, new_date TEXT, new_document TEXT NOT NULL, new_source TEXT NOT NULL
);
"""

IN_FORCE = "(d.effective_from <= :day AND (d.valid_until IS NULL OR :day < d.valid_until))"
HEADING_SEP = "\u241f"


class SqliteKnowledgeStore:
    """`KnowledgeStore` on one SQLite file; safe to share between threads of one process."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()
        self._matrix: tuple[list[str], list[str], np.ndarray] | None = None

    # -- writes --------------------------------------------------------------------------------
    def document_hash(self, document_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT content_hash FROM kb_documents WHERE id = ?", (document_id,)).fetchone()
        return row[0] if row else None

    def upsert_document(self, doc: Document, chunks: list[Chunk], vectors: np.ndarray | None) -> None:
        with self._lock, self._db:
            old = [r[0] for r in self._db.execute("SELECT rowid FROM kb_chunks WHERE document_id = ?", (doc.id,))]
            if old:
                self._db.executemany("DELETE FROM kb_chunks_fts WHERE rowid = ?", [(r,) for r in old])
            self._db.execute("DELETE FROM kb_chunks WHERE document_id = ?", (doc.id,))
            self._db.execute("DELETE FROM kb_documents WHERE id = ?", (doc.id,))
            self._db.execute(
                "INSERT INTO kb_documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (doc.id, doc.scheme, doc.title, doc.audience, doc.version, doc.effective_from.isoformat(),
                 _iso(doc.effective_until), _iso(doc.valid_until), doc.source_url, doc.queue, doc.body,
                 doc.content_hash, doc.path, doc.format),
            )
            for i, c in enumerate(chunks):
                blob = vectors[i].astype(np.float32).tobytes() if vectors is not None else None
                cur = self._db.execute(
                    "INSERT INTO kb_chunks (id, document_id, ordinal, heading_path, text, vector) VALUES (?,?,?,?,?,?)",
                    (c.id, doc.id, c.ordinal, HEADING_SEP.join(c.heading_path), c.text, blob),
                )
                self._db.execute(
                    "INSERT INTO kb_chunks_fts (rowid, analyzed) VALUES (?, ?)",
                    (cur.lastrowid, analyzed(c.indexed_text())),
                )
            self._matrix = None

    def set_valid_until(self, windows: dict[str, date | None]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "UPDATE kb_documents SET valid_until = ? WHERE id = ?",
                [(_iso(v), k) for k, v in windows.items()],
            )

    def replace_discrepancies(self, items: list[Discrepancy]) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM kb_discrepancies")
            self._db.executemany(
                "INSERT INTO kb_discrepancies VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [(d.scheme, d.field, d.kind, d.old_value, _iso(d.old_date), d.old_document, d.old_source,
                  d.new_value, _iso(d.new_date), d.new_document, d.new_source) for d in items],
            )

    def set_embedder_name(self, name: str | None) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO kb_meta VALUES ('embedder', ?)", (name or "",))

    # -- reads ---------------------------------------------------------------------------------
    def embedder_name(self) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM kb_meta WHERE key = 'embedder'").fetchone()
        return (row[0] or None) if row else None

    def documents(self) -> list[Document]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM kb_documents ORDER BY scheme, effective_from, id").fetchall()
        return [_document(r) for r in rows]

    def discrepancies(self, scheme: str | None = None) -> list[Discrepancy]:
        sql = "SELECT * FROM kb_discrepancies"
        args: tuple[str, ...] = ()
        if scheme:
            sql += " WHERE scheme = ?"
            args = (scheme,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY scheme, new_date, field", args).fetchall()
        return [Discrepancy(r["scheme"], r["field"], r["kind"], r["old_value"], _date(r["old_date"]),
                            r["old_document"], r["old_source"], r["new_value"], _date(r["new_date"]),
                            r["new_document"], r["new_source"]) for r in rows]

    def lexical_search(self, terms: list[str], on_date: date | None, limit: int) -> list[tuple[str, float]]:
        terms = [t for t in dict.fromkeys(terms) if t]
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
        sql = (
            "SELECT c.id, bm25(kb_chunks_fts) AS s FROM kb_chunks_fts "
            "JOIN kb_chunks c ON c.rowid = kb_chunks_fts.rowid JOIN kb_documents d ON d.id = c.document_id "
            "WHERE kb_chunks_fts MATCH :match"
        )
        params: dict[str, object] = {"match": match, "limit": limit}
        if on_date is not None:
            sql += " AND " + IN_FORCE
            params["day"] = on_date.isoformat()
        sql += " ORDER BY s, c.id LIMIT :limit"
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [(r[0], -float(r[1])) for r in rows]  # bm25() is lower-is-better

    def dense_search(self, vector: np.ndarray, on_date: date | None, limit: int) -> list[tuple[str, float]]:
        ids, doc_ids, matrix = self._load_matrix()
        if not ids:
            return []
        scores = matrix @ vector.astype(np.float32)
        if on_date is not None:
            allowed = self._in_force_documents(on_date)
            mask = np.fromiter((d in allowed for d in doc_ids), dtype=bool, count=len(doc_ids))
            scores = np.where(mask, scores, -np.inf)
        k = min(limit, len(ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((np.array([ids[i] for i in top]), -scores[top]))]
        return [(ids[i], float(scores[i])) for i in top if np.isfinite(scores[i])]

    def chunks(self, ids: list[str]) -> list[Chunk]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._db.execute(
                "SELECT c.id, c.document_id, c.ordinal, c.heading_path, c.text, d.scheme, d.title, d.version, "
                "d.audience, d.effective_from, d.valid_until, d.source_url, d.queue FROM kb_chunks c "
                f"JOIN kb_documents d ON d.id = c.document_id WHERE c.id IN ({marks})",
                ids,
            ).fetchall()
        by_id = {r["id"]: _chunk(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def term_frequencies(self, terms: list[str]) -> dict[str, int]:
        terms = list(dict.fromkeys(t for t in terms if t))
        if not terms:
            return {}
        marks = ",".join("?" * len(terms))
        with self._lock:
            rows = self._db.execute(f"SELECT term, doc FROM kb_vocab WHERE term IN ({marks})", terms).fetchall()
        found = {r[0]: int(r[1]) for r in rows}
        return {t: found.get(t, 0) for t in terms}

    def chunk_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM kb_chunks").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- internals -----------------------------------------------------------------------------
    def _in_force_documents(self, on_date: date) -> set[str]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT d.id FROM kb_documents d WHERE {IN_FORCE}", {"day": on_date.isoformat()}
            ).fetchall()
        return {r[0] for r in rows}

    def _load_matrix(self) -> tuple[list[str], list[str], np.ndarray]:
        with self._lock:
            if self._matrix is None:
                rows = self._db.execute(
                    "SELECT id, document_id, vector FROM kb_chunks WHERE vector IS NOT NULL ORDER BY rowid"
                ).fetchall()
                ids = [r[0] for r in rows]
                docs = [r[1] for r in rows]
                matrix = (np.vstack([np.frombuffer(r[2], dtype=np.float32) for r in rows])
                          if rows else np.zeros((0, 1), dtype=np.float32))
                self._matrix = (ids, docs, matrix)
            return self._matrix


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _date(s: str | None) -> date | None:
    return date.fromisoformat(s) if s else None


def _document(r: sqlite3.Row) -> Document:
    return Document(
        id=r["id"], scheme=r["scheme"], title=r["title"], audience=r["audience"], version=r["version"],
        effective_from=date.fromisoformat(r["effective_from"]), effective_until=_date(r["effective_until"]),
        source_url=r["source_url"], queue=r["queue"], body=r["body"], content_hash=r["content_hash"],
        path=r["path"], format=r["format"], valid_until=_date(r["valid_until"]),
    )


def _chunk(r: sqlite3.Row) -> Chunk:
    return Chunk(
        id=r["id"], document_id=r["document_id"], ordinal=r["ordinal"],
        heading_path=tuple(r["heading_path"].split(HEADING_SEP)), text=r["text"], scheme=r["scheme"],
        title=r["title"], version=r["version"], audience=r["audience"],
        effective_from=_date(r["effective_from"]), valid_until=_date(r["valid_until"]),
        source_url=r["source_url"], queue=r["queue"],
    )

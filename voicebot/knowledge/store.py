"""The `KnowledgeStore` interface: what retrieval, versions and ingestion need from a backend.

Two implementations: `SqliteKnowledgeStore` (embedded default) and `PostgresKnowledgeStore`
(pgvector, multi-node). Fusion and scoring live above the store (`retrieval.py`) so both backends
rank the same way.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

import numpy as np

from voicebot.knowledge.documents import Chunk, Discrepancy, Document


class KnowledgeStore(Protocol):
    """Storage of documents, chunks and vectors (SQLite or PostgreSQL), and their full-text search."""

    def document_hash(self, document_id: str) -> str | None:
        """Content hash of the stored document, None if absent (idempotent re-ingest)."""

    def upsert_document(self, doc: Document, chunks: list[Chunk], vectors: np.ndarray | None) -> None:
        """Insert or replace a document with its chunks (and their embeddings)."""

    def documents(self) -> list[Document]: ...

    def set_valid_until(self, windows: dict[str, date | None]) -> None:
        """Record each document's computed end of validity (start of the next version)."""

    def replace_discrepancies(self, items: list[Discrepancy]) -> None: ...

    def discrepancies(self, scheme: str | None = None) -> list[Discrepancy]: ...

    def lexical_search(self, terms: list[str], on_date: date | None, limit: int) -> list[tuple[str, float]]:
        """Chunk ids matching any of the stemmed `terms`, best first, among versions in force."""

    def dense_search(self, vector: np.ndarray, on_date: date | None, limit: int) -> list[tuple[str, float]]:
        """Chunk ids by cosine similarity (higher is better), among versions in force."""

    def chunks(self, ids: list[str]) -> list[Chunk]: ...

    def chunk_count(self) -> int: ...

    def term_frequencies(self, terms: list[str]) -> dict[str, int]:
        """Number of chunks containing each stemmed term (for IDF-weighted query coverage)."""

    def embedder_name(self) -> str | None:
        """Name of the embedder that produced the stored vectors (to refuse mixing models)."""

    def set_embedder_name(self, name: str | None) -> None: ...

    def close(self) -> None: ...

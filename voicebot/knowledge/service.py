"""The knowledge service of a process: store + embedder + retriever + answerer, built once.

`KnowledgeService.from_settings(settings)` opens the configured store (SQLite by default at
`<server.data_dir>/knowledge.sqlite3`), fills it from the sample base when empty, and exposes `ingest`,
`diff`, `search`, `answer` and `stream_answer`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from voicebot.knowledge import versions
from voicebot.knowledge.answer import Answer, AnswerStream
from voicebot.knowledge.documents import Discrepancy, SearchHit
from voicebot.knowledge.embedding import Embedder, get_embedder
from voicebot.knowledge.ingest import chunk_document, discover, read_document
from voicebot.knowledge.retrieval import Retriever
from voicebot.knowledge.settings import KnowledgeSettings
from voicebot.knowledge.store import KnowledgeStore

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """What an ingestion changed in the store."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    chunks: int = 0
    discrepancies: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged,
                "chunks": self.chunks, "discrepancies": self.discrepancies}


class KnowledgeError(RuntimeError):
    """A knowledge-base problem a user can act on (message in French)."""


class KnowledgeService:
    """Store, embedder, retriever and answerers of a process, built once and shared by calls."""

    def __init__(self, store: KnowledgeStore, embedder: Embedder | None, settings: KnowledgeSettings,
                 llm_base_url: str = "") -> None:
        stored = store.embedder_name()
        wanted = embedder.name if embedder else None
        if store.chunk_count() and stored != wanted:
            raise KnowledgeError(
                f"la base a été indexée avec l'embedding « {stored or 'aucun'} » et la configuration demande "
                f"« {wanted or 'aucun'} » : réindexez (nouvelle base) ou changez knowledge.embedder"
            )
        self.store = store
        self.embedder = embedder
        if settings.backend == "auto":  # no LLM settings here: the measured best on the embedded install
            settings = settings.model_copy(update={"backend": "extractive"})
        self.settings = settings
        self.retriever = Retriever(store, embedder, candidates=settings.candidates, rrf_k=settings.rrf_k)
        self.llm_base_url = settings.llm_base_url or llm_base_url
        self._answerers: dict[str, Any] = {}

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Any, *, open_only: bool = False) -> KnowledgeService:
        """Build from the full Settings object (uses `settings.knowledge`, `settings.server.data_dir`)."""
        ks: KnowledgeSettings = getattr(settings, "knowledge", None) or KnowledgeSettings()
        store = open_store(ks, data_dir=_data_dir(settings))
        embedder = get_embedder(ks.embedder, ks.embedder_threads)
        service = cls(store, embedder, ks, llm_base_url=_core_llm_url(settings))
        llm = getattr(settings, "llm", None)
        service.settings = ks.model_copy(update={"backend": resolve_backend(ks.backend, getattr(llm, "backend", None))})
        llm_model = getattr(llm, "model", None)
        if llm_model and ks.llm_model == "local":
            service.settings = service.settings.model_copy(update={"llm_model": llm_model})
        first_token_s = getattr(llm, "first_token_timeout_s", None)
        if first_token_s:
            # The knowledge LLM gives up early enough that its extractive fallback is spoken before the
            # pipeline's own llm.first_token_timeout_s deadline turns the silence into an apology.
            service.settings = service.settings.model_copy(update={"llm_first_token_timeout_s": min(
                service.settings.llm_timeout_s, 0.7 * float(first_token_s))})
        if not open_only and ks.auto_ingest_samples and store.chunk_count() == 0:
            log.info("knowledge store empty: ingesting samples from %s", ks.samples_dir)
            service.ingest([ks.samples_dir])
        return service

    def use_llm(self, base_url: str, model: str | None = None) -> None:
        """Point the LLM answerer at a server started later (e.g. the embedded llama.cpp child)."""
        self.llm_base_url = base_url
        if model:
            self.settings = self.settings.model_copy(update={"llm_model": model})
        self._answerers.pop("llm", None)

    def close(self) -> None:
        self.store.close()

    # -- ingestion -----------------------------------------------------------------------------
    def ingest(self, paths: Iterable[Path]) -> IngestReport:
        """Ingest files/folders; unchanged documents (same content hash) are skipped."""
        report = IngestReport()
        if self.store.chunk_count() == 0:
            self.store.set_embedder_name(self.embedder.name if self.embedder else None)
        for path in discover(list(paths)):
            doc = read_document(path)
            previous = self.store.document_hash(doc.id)
            if previous == doc.content_hash:
                report.unchanged.append(doc.id)
                continue
            chunks = chunk_document(doc)
            vectors = (self.embedder.embed_passages([c.indexed_text() for c in chunks])
                       if self.embedder else None)
            self.store.upsert_document(doc, chunks, vectors)
            report.chunks += len(chunks)
            (report.updated if previous else report.added).append(doc.id)
        self.refresh_versions()
        report.discrepancies = len(self.store.discrepancies())
        return report

    def refresh_versions(self) -> list[Discrepancy]:
        """Recompute validity windows and discrepancies from the whole history."""
        docs = self.store.documents()
        self.store.set_valid_until(versions.validity_windows(docs))
        found = versions.detect(docs)
        self.store.replace_discrepancies(found)
        return found

    def diff(self, scheme: str | None = None) -> list[Discrepancy]:
        return self.store.discrepancies(scheme)

    # -- retrieval and answers -----------------------------------------------------------------
    def search(self, question: str, on_date: date | None = None, k: int | None = None) -> list[SearchHit]:
        return self.retriever.search(question, on_date or date.today(), k or self.settings.top_k)

    def answerer(self, backend: str | None = None) -> Any:
        backend = backend or self.settings.backend
        if backend not in self._answerers:
            from voicebot.knowledge.extractive import ExtractiveAnswerer

            extractive = ExtractiveAnswerer(self.retriever, self.embedder, self.settings)
            if backend == "extractive":
                self._answerers[backend] = extractive
            elif backend == "llm":
                from voicebot.knowledge.llm_answerer import LlmAnswerer

                self._answerers[backend] = LlmAnswerer(extractive, self.settings, base_url=self.llm_base_url)
            else:
                raise KnowledgeError(f"backend de réponse inconnu : {backend!r} (attendu : llm, extractive)")
        return self._answerers[backend]

    async def answer(self, question: str, on_date: date | None = None, backend: str | None = None,
                     scheme: str | None = None, facet: str | None = None) -> Answer:
        """`scheme`/`facet`: the dialogue's hints (the scheme under discussion, the facet offered)."""
        return await self.answerer(backend).answer(question, on_date or date.today(), scheme, facet)

    def stream_answer(self, question: str, on_date: date | None = None, backend: str | None = None,
                      scheme: str | None = None, facet: str | None = None) -> AnswerStream:
        return self.answerer(backend).stream_answer(question, on_date or date.today(), scheme, facet)


def resolve_backend(knowledge_backend: str, llm_backend: str | None) -> str:
    """'auto' → extractive on the embedded install (measured better than SmolLM2), LLM on vLLM ('openai')."""
    if llm_backend == "extractive":
        return "extractive"
    if knowledge_backend == "auto":
        return "llm" if llm_backend == "openai" else "extractive"
    return knowledge_backend


def open_store(ks: KnowledgeSettings, data_dir: Path | None = None) -> KnowledgeStore:
    if ks.store == "postgres":
        if not ks.postgres_dsn:
            raise KnowledgeError("knowledge.postgres_dsn est vide alors que knowledge.store = 'postgres'")
        from voicebot.knowledge.postgres_store import PostgresKnowledgeStore

        dim = {"use": 512, "e5": 384}.get(ks.embedder, 0)
        return PostgresKnowledgeStore(ks.postgres_dsn, dim=dim)
    from voicebot.knowledge.sqlite_store import SqliteKnowledgeStore

    path = ks.sqlite_path or (Path(data_dir or "data") / "knowledge.sqlite3")
    return SqliteKnowledgeStore(path)


def _data_dir(settings: Any) -> Path | None:
    server = getattr(settings, "server", None)
    d = getattr(server, "data_dir", None)
    return Path(d) if d else None


def _core_llm_url(settings: Any) -> str:
    llm = getattr(settings, "llm", None)
    for attr in ("base_url", "url"):
        v = getattr(llm, attr, None)
        if v:
            return str(v)
    return ""

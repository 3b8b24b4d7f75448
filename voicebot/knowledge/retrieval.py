"""Hybrid retrieval: French full-text (BM25) and dense vectors fused by reciprocal rank fusion.

Only versions in force on the call's date are searched, so a superseded figure is never retrieved as
current. `relevance` (cosine of the question with the passage, blended with query-term coverage) is the
calibrated signal behind the no-answer path.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np

from voicebot.knowledge.documents import SearchHit
from voicebot.knowledge.embedding import Embedder
from voicebot.knowledge.store import KnowledgeStore
from voicebot.french.text import stems


def rrf(rankings: list[list[str]], k: int = 60) -> dict[str, float]:
    """Reciprocal rank fusion: sum of 1 / (k + rank) over the rankings that contain an item."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return scores


class Retriever:
    """Searches one store with one embedder; shared by all calls of a process."""

    def __init__(self, store: KnowledgeStore, embedder: Embedder | None, *, candidates: int = 30,
                 rrf_k: int = 60) -> None:
        self.store = store
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k

    def term_weights(self, terms: list[str]) -> dict[str, float]:
        """IDF of each query term; a word the base never uses weighs most (likely out of scope)."""
        if not terms:
            return {}
        df = self.store.term_frequencies(terms)
        n = max(self.store.chunk_count(), 1)
        return {t: math.log(1.0 + n / (df.get(t, 0) + 0.5)) for t in dict.fromkeys(terms)}

    def embed_query(self, question: str) -> np.ndarray | None:
        return self.embedder.embed_queries([question])[0] if self.embedder else None

    def search(self, question: str, on_date: date | None, k: int = 5,
               query_vector: np.ndarray | None = None) -> list[SearchHit]:
        terms = stems(question)
        lexical = self.store.lexical_search(terms, on_date, self.candidates)
        dense: list[tuple[str, float]] = []
        if query_vector is None and self.embedder is not None:
            query_vector = self.embed_query(question)
        if query_vector is not None:
            dense = self.store.dense_search(query_vector, on_date, self.candidates)
        fused = rrf([[c for c, _ in lexical], [c for c, _ in dense]], self.rrf_k)
        order = sorted(fused, key=lambda c: (-fused[c], c))[:k]
        lex_rank = {c: i for i, (c, _) in enumerate(lexical, start=1)}
        dense_rank = {c: i for i, (c, _) in enumerate(dense, start=1)}
        dense_score = dict(dense)
        chunks = {c.id: c for c in self.store.chunks(order)}
        weights = self.term_weights(terms)
        total_weight = sum(weights.values())
        hits: list[SearchHit] = []
        for cid in order:
            chunk = chunks.get(cid)
            if chunk is None:
                continue
            chunk_terms = set(stems(chunk.indexed_text()))
            coverage = (sum(w for t, w in weights.items() if t in chunk_terms) / total_weight
                        if total_weight else 0.0)
            cos = dense_score.get(cid)
            if cos is None and query_vector is not None and self.embedder is not None:
                cos = float(self.embedder.embed_passages([chunk.indexed_text()])[0] @ query_vector)
            relevance = 0.5 * (cos if cos is not None else coverage) + 0.5 * coverage
            hits.append(SearchHit(chunk=chunk, score=fused[cid], relevance=relevance,
                                  lexical_rank=lex_rank.get(cid), dense_rank=dense_rank.get(cid),
                                  dense_score=cos, extras={"coverage": coverage}))
        return hits

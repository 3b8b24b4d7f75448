"""Extractive answerer: the best-matching sentences of the top passages, in French, without any LLM.

It is a backend of its own (`knowledge.backend = "extractive"`), the fallback when the LLM's answer
fails the grounding guard, and the answer when the LLM server is down. Everything it says is copied
from the passages of the version in force, so it is grounded by construction.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import numpy as np

from voicebot.french import phrases
from voicebot.french.dates import french_date
from voicebot.knowledge import figures
from voicebot.knowledge.answer import Answer, AnswerStream
from voicebot.knowledge.documents import SearchHit
from voicebot.knowledge.embedding import Embedder
from voicebot.knowledge.retrieval import Retriever
from voicebot.knowledge.settings import KnowledgeSettings
from voicebot.french.text import sentences, stems

_LABELLED = re.compile(r"^([^:]{2,80}?)\s+:\s+(.+)$")
NATIONAL_SCHEMES_QUEUE = "other"


@dataclass
class Retrieved:
    """Passages kept for one question (the same scheme as the best hit), with the relevance verdict."""

    hits: list[SearchHit]
    relevant: bool
    relevance: float

    def passages_text(self) -> list[str]:
        return [context_of(h) for h in self.hits]


def context_of(hit: SearchHit) -> str:
    """A passage as the guard and the LLM see it: title, version date, heading, text."""
    c = hit.chunk
    since = french_date(c.effective_from) if c.effective_from else "date inconnue"
    return f"{c.title} (version en vigueur depuis le {since}) — {c.heading}\n{c.text}"


def sources_of(hits: list[SearchHit]) -> list[dict[str, object]]:
    seen: dict[str, dict[str, object]] = {}
    for h in hits:
        c = h.chunk
        if c.document_id not in seen:
            seen[c.document_id] = {"id": c.document_id, "title": c.title, "version": c.version,
                                   "effective_from": c.effective_from.isoformat() if c.effective_from else None,
                                   "url": c.source_url, "scheme": c.scheme}
    return list(seen.values())


class ExtractiveAnswerer:
    """Answers with sentences taken from the retrieved passages: no LLM, so nothing is invented."""

    def __init__(self, retriever: Retriever, embedder: Embedder | None, settings: KnowledgeSettings) -> None:
        self.retriever = retriever
        self.embedder = embedder
        self.settings = settings

    # -- retrieval shared with the LLM answerer ------------------------------------------------
    def retrieve(self, question: str, on_date: date) -> Retrieved:
        hits = self.retriever.search(question, on_date, self.settings.top_k)
        if not hits:
            return Retrieved([], False, 0.0)
        best = max(hits[:3], key=lambda h: h.relevance)
        relevance = best.relevance
        scheme = hits[0].chunk.scheme
        kept = [h for h in hits if h.chunk.scheme == scheme][:4]
        return Retrieved(kept, relevance >= self.settings.min_relevance, relevance)

    def no_answer(self, retrieved: Retrieved) -> Answer:
        return Answer(answer=phrases.NO_ANSWER, sources=[], grounded=False, fallback="no_answer",
                      chunks=[(h.chunk.id, h.score) for h in retrieved.hits], guard="skipped",
                      relevance=retrieved.relevance)

    # -- answering -----------------------------------------------------------------------------
    async def answer(self, question: str, on_date: date) -> Answer:
        return await asyncio.to_thread(self.answer_sync, question, on_date)

    def answer_sync(self, question: str, on_date: date, retrieved: Retrieved | None = None) -> Answer:
        if not question.strip():
            return Answer(answer=phrases.EMPTY_QUESTION, fallback="no_answer")
        retrieved = retrieved or self.retrieve(question, on_date)
        if not retrieved.relevant:
            return self.no_answer(retrieved)
        text = self.compose(question, retrieved.hits)
        return Answer(answer=text, sources=sources_of(retrieved.hits), grounded=True, fallback=None,
                      chunks=[(h.chunk.id, h.score) for h in retrieved.hits], guard="skipped",
                      queue=retrieved.hits[0].chunk.queue, relevance=retrieved.relevance)

    def compose(self, question: str, hits: list[SearchHit]) -> str:
        """Pick the sentences that best match the question, keep document order, add the version date."""
        candidates: list[tuple[int, int, str, str]] = []  # (hit index, position, sentence, scored text)
        for hi, h in enumerate(hits):
            for si, s in enumerate(sentences(h.chunk.text)):
                label_context = " ".join(h.chunk.heading_path[1:])
                candidates.append((hi, si, s, f"{label_context} {s}"))
        if not candidates:
            return phrases.NO_ANSWER
        q_terms = set(stems(question))
        lexical = np.array([
            len(q_terms & set(stems(text))) / (len(q_terms) or 1) for _, _, _, text in candidates
        ])
        dense = np.zeros(len(candidates))
        embedder = self.embedder
        if embedder is not None:
            qv = embedder.embed_queries([question])[0]
            dense = embedder.embed_passages([text for _, _, _, text in candidates]) @ qv
        rank_bonus = np.array([0.08 * (len(hits) - hi) / len(hits) for hi, _, _, _ in candidates])
        intent = np.array([_intent_bonus(question, s) for _, _, s, _ in candidates])
        score = 0.5 * dense + 0.5 * lexical + rank_bonus + intent
        order = np.argsort(-score)[: self.settings.answer_sentences]
        chosen = sorted(order, key=lambda i: (candidates[i][0], candidates[i][1]))
        best_chunk = hits[0].chunk
        parts = [f"{best_chunk.title} :"] if best_chunk.title else []
        for i in chosen:
            parts.append(_as_sentence(candidates[i][2]))
        if best_chunk.effective_from and best_chunk.effective_from.year > 1970:
            parts.append(phrases.IN_FORCE_SINCE.format(date=french_date(best_chunk.effective_from)))
        return " ".join(parts)

    def stream_answer(self, question: str, on_date: date) -> AnswerStream:
        async def produce(stream: AnswerStream) -> AsyncIterator[str]:
            ans = await self.answer(question, on_date)
            stream.answer = ans
            stream.retrieved_at = time.monotonic()
            for piece in split_for_speech(ans.answer):
                yield piece

        return AnswerStream(produce)


_WANTS_PHONE = re.compile(r"\b(num[eé]ro|t[eé]l[eé]phone|appeler|joindre|contacter)\b", re.IGNORECASE)
_WANTS_DATE = re.compile(r"\b(quand|date|jusqu'?[àa] quand|d[eé]lai|avant le)\b", re.IGNORECASE)
_WANTS_FIGURE = re.compile(
    r"\b(combien|montant|prix|co[uû]t\w*|tarif\w*|plafond|maximum|minimum|euros?|pourcent\w*|taux|âge|ans)\b",
    re.IGNORECASE,
)


def missing_figure(question: str, sentence: str) -> bool:
    """True when the question asks for a phone number, a date or an amount that `sentence` lacks."""
    keys = figures.keys(sentence)
    if _WANTS_PHONE.search(question):
        return not any(k.startswith("tel:") for k in keys)
    if _WANTS_DATE.search(question):
        return not any(k.startswith("d:") for k in keys)
    if _WANTS_FIGURE.search(question):
        return not any(k.startswith("n:") for k in keys)
    return False


def _intent_bonus(question: str, sentence: str) -> float:
    """Favour sentences carrying the kind of figure the question asks for (amount, phone, date)."""
    keys = figures.keys(sentence)
    bonus = 0.0
    if _WANTS_PHONE.search(question) and any(k.startswith("tel:") for k in keys):
        bonus += 0.5
    if _WANTS_DATE.search(question) and any(k.startswith("d:") for k in keys):
        bonus += 0.3
    if _WANTS_FIGURE.search(question) and re.search(r"\d\s*(€|%|euros?|M€|ans\b|mois\b)", sentence):
        bonus += 0.25
    return bonus


def _as_sentence(s: str) -> str:
    s = s.strip()
    m = _LABELLED.match(s)
    if m:
        s = f"{m.group(1)} : {m.group(2)}"
    if not s.endswith((".", "!", "?", "»")):
        s += "."
    return s


def split_for_speech(text: str) -> list[str]:
    """Sentence pieces for TTS (a piece ends at . ! ? followed by a space)."""
    return [p for p in re.split(r"(?<=[.!?])\s+", text) if p.strip()]

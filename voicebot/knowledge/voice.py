"""The knowledge base as the voice pipeline's answerer (the knowledge step before/around the LLM).

Retrieval, the grounded LLM answer, the grounding guard and the extractive fallback all happen in
KnowledgeService; this adapter streams the guarded sentences to the Responder and reports, per turn,
the chunks used (ids, scores), the sources and whether the guard passed or fell back.
"""

from __future__ import annotations

import datetime as dt
from typing import AsyncIterator

from voicebot.knowledge.service import KnowledgeService
from voicebot.llm.client import AnswerMeta


class KnowledgeAnswerer:
    """The knowledge base behind the voice pipeline's answerer interface."""

    def __init__(self, service: KnowledgeService, backend: str, on_date: dt.date | None = None):
        self.service = service
        self.backend = backend
        self.on_date = on_date  # fixed call date (chat, evaluation); None = today

    async def stream(self, question: str, history: list[dict], meta: AnswerMeta) -> AsyncIterator[str]:
        stream = self.service.stream_answer(question, self.on_date or dt.date.today(), backend=self.backend,
                                            scheme=meta.scheme, facet=meta.facet)
        try:
            async for sentence in stream:
                meta.retrieved_at = stream.retrieved_at
                yield sentence
        finally:
            await stream.aclose()  # an interrupted answer stops generating
            answer = stream.answer
            if answer is not None:
                meta.sources = [*answer.sources, *({"chunk": cid, "score": round(score, 4)}
                                                   for cid, score in answer.chunks)]
                meta.grounded = answer.grounded
                meta.fallback = answer.fallback
                meta.guard = f"{answer.guard}/{answer.fallback or 'llm'}"
                meta.offer_human = answer.fallback == "no_answer"
                meta.queue = answer.queue
                meta.scheme = answer.scheme or meta.scheme
                meta.facet = answer.facet
                meta.offer = answer.offer
                meta.answer = answer.answer

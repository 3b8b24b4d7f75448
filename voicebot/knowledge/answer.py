"""`Answer`, the `Answerer` interface and `AnswerStream` (streamed text + final metadata)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from voicebot.french.speech import to_speech


@dataclass
class Answer:
    """What the bot says and why: display text (digits kept), sources, guard outcome, chunks used."""

    answer: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    grounded: bool = False
    fallback: str | None = None  # None | "extractive" | "no_answer"
    chunks: list[tuple[str, float]] = field(default_factory=list)
    guard: str = "skipped"  # passed | rejected | unavailable | skipped
    unsupported: list[str] = field(default_factory=list)  # figures the guard refused
    queue: str | None = None  # queue of the best source, for a handoff
    relevance: float = 0.0
    spoken: str = ""  # the short text for the caller's ear (one sentence + at most one offer); "" = answer
    scheme: str | None = None  # scheme the answer is about
    facet: str | None = None  # what it answered: price, conditions, dates, apply, contact
    offer: str | None = None  # the facet offered next ("Voulez-vous les conditions ?")

    @property
    def speech(self) -> str:
        """Text for TTS: the pipeline's French normaliser when present, else the spoken text."""
        return to_speech(self.spoken or self.answer)

    def as_json(self) -> dict[str, Any]:
        return {"answer": self.answer, "speech": self.speech, "sources": self.sources,
                "grounded": self.grounded, "fallback": self.fallback}

    def as_record(self) -> dict[str, Any]:
        """Per-turn record for the call log: chunks used (ids, scores) and the guard outcome."""
        return {**self.as_json(), "chunks": [{"id": c, "score": round(s, 5)} for c, s in self.chunks],
                "guard": self.guard, "unsupported": self.unsupported, "queue": self.queue, "scheme": self.scheme,
                "relevance": round(self.relevance, 4)}


class AnswerStream:
    """Async iterator of text pieces (whole sentences that passed the guard); `.answer` once exhausted.

    Usage: `stream = answerer.stream_answer(q, day); async for piece in stream: tts(piece)`, then
    `stream.answer` (or `await stream.final()`) for sources, guard outcome and chunks.
    """

    def __init__(self, produce: Callable[[AnswerStream], AsyncIterator[str]]) -> None:
        self._produce = produce
        self._iter: AsyncIterator[str] | None = None
        self.answer: Answer | None = None
        self.retrieved_at: float | None = None  # time.monotonic() when retrieval finished (latency records)

    def __aiter__(self) -> AnswerStream:
        return self

    async def __anext__(self) -> str:
        if self._iter is None:
            self._iter = self._produce(self).__aiter__()
        return await self._iter.__anext__()

    async def final(self) -> Answer:
        """Consume what is left and return the final Answer."""
        async for _ in self:
            pass
        assert self.answer is not None
        return self.answer

    async def aclose(self) -> None:
        if self._iter is not None and hasattr(self._iter, "aclose"):
            await self._iter.aclose()


class Answerer(Protocol):
    """A knowledge answerer: a whole answer, or one streamed sentence by sentence."""

    async def answer(self, question: str, on_date: date, scheme: str | None = None,
                     facet: str | None = None) -> Answer: ...

    def stream_answer(self, question: str, on_date: date, scheme: str | None = None,
                      facet: str | None = None) -> AnswerStream: ...


AnswerFactory = Callable[[str, date], Awaitable[Answer]]

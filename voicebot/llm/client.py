"""One OpenAI-compatible streaming chat client, for vLLM in production and llama.cpp locally.

``VoiceAnswerer`` is the interface the voice pipeline needs: a caller question (+ short history) in, a stream of
text pieces out. The knowledge base plugs its grounded answerer behind the same interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Protocol, cast

from openai import AsyncOpenAI

from voicebot.french.phrases import UNGROUNDED_SYSTEM_PROMPT


class AnswerError(Exception):
    """The answer could not be produced (server down, timeout, bad response)."""


@dataclass
class AnswerMeta:
    """What an answerer reports about the answer it streamed (sources, guard verdict, fallback)."""

    sources: list[dict] = field(default_factory=list)
    grounded: bool | None = None
    fallback: str | None = None  # None | "extractive" | "no_answer"
    guard: str | None = None
    transfer: bool = False  # hand the call to a human agent now
    offer_human: bool = False  # the answer offered a human agent (a "oui" next turn accepts it)
    queue: str | None = None  # the agent queue matching the answer's topic
    retrieved_at: float | None = None  # monotonic time the knowledge passages were ready (grounded answers)
    # Dialogue hints in (scheme under discussion, facet asked) and what the answer was about, out.
    scheme: str | None = None
    facet: str | None = None
    offer: str | None = None  # facet the answer offered next ("Voulez-vous les conditions ?")
    answer: str = ""  # display text (may hold more than what is spoken)


class VoiceAnswerer(Protocol):
    """What the voice pipeline asks of an answerer: a question in, text pieces out as they come."""

    def stream(self, question: str, history: list[dict], meta: AnswerMeta) -> AsyncIterator[str]:
        """Yield the answer's text pieces as they come; fill ``meta`` on the way (an async generator)."""


class OpenAIChatAnswerer:
    """Plain LLM answers (no retrieval) over the OpenAI-compatible chat completions API."""

    def __init__(self, base_url: str, *, api_key: str = "not-needed", model: str = "", temperature: float = 0.2,
                 max_tokens: int = 120, first_token_timeout_s: float = 8.0, total_timeout_s: float = 30.0,
                 system_prompt: str = UNGROUNDED_SYSTEM_PROMPT, client=None):
        # ``client``: any object with AsyncOpenAI's chat.completions.create (tests script one).
        self.client = client or AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0,
                                            timeout=total_timeout_s)
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.first_token_timeout_s = first_token_timeout_s
        self.total_timeout_s = total_timeout_s
        self.system_prompt = system_prompt

    async def _model_name(self) -> str:
        if not self.model:
            try:
                models = await asyncio.wait_for(self.client.models.list(), self.first_token_timeout_s)
            except Exception as e:
                raise AnswerError(f"LLM server unreachable: {type(e).__name__}: {e}") from None
            if not models.data:
                raise AnswerError("LLM server serves no model")
            self.model = models.data[0].id
        return self.model

    def messages(self, question: str, history: list[dict], context: str | None = None) -> list[dict]:
        system = self.system_prompt if context is None else f"{self.system_prompt}\n\n{context}"
        return [{"role": "system", "content": system}, *history, {"role": "user", "content": question}]

    async def stream_messages(self, messages: list[dict]) -> AsyncIterator[str]:
        model = await self._model_name()
        deadline = time.monotonic() + self.total_timeout_s
        stream = None
        try:
            stream = await asyncio.wait_for(
                self.client.chat.completions.create(model=model, messages=cast(Any, messages), stream=True,
                                                    temperature=self.temperature, max_tokens=self.max_tokens),
                self.first_token_timeout_s,
            )
            it = stream.__aiter__()
            first = True
            while True:
                budget = self.first_token_timeout_s if first else max(0.1, deadline - time.monotonic())
                try:
                    chunk = await asyncio.wait_for(it.__anext__(), budget)
                except StopAsyncIteration:
                    break
                if not chunk.choices:
                    continue
                piece = chunk.choices[0].delta.content or ""
                if piece:
                    first = False
                    yield piece
        except asyncio.TimeoutError:
            raise AnswerError("LLM timed out") from None
        except AnswerError:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as e:
            raise AnswerError(f"LLM request failed: {type(e).__name__}: {e}") from None
        finally:
            close = getattr(stream, "close", None)
            if close is not None:  # stops generation on the server when the reader stopped early
                with contextlib.suppress(Exception):
                    await close()

    async def stream(self, question: str, history: list[dict], meta: AnswerMeta) -> AsyncIterator[str]:
        async for piece in self.stream_messages(self.messages(question, history)):
            yield piece

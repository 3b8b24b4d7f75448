"""LLM component figures: time to first token and tokens per second of the embedded llama.cpp server
(or any OpenAI-compatible server given with --base-url), on short French caller questions.

Run: python benchmarks/llm_speed.py [--base-url URL --model NAME] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from openai import AsyncOpenAI

from voicebot.config import load_settings
from voicebot.llm.server import EmbeddedLlamaServer
from voicebot.models import resolve
from voicebot.french.phrases import UNGROUNDED_SYSTEM_PROMPT as SYSTEM_PROMPT

QUESTIONS = [
    "Combien coûte le passe Navigo mois ?",
    "Comment obtenir l'aide au permis de conduire ?",
    "Quel est le prix du forfait imagine R scolaire ?",
    "Je voudrais des informations sur les aides aux entreprises.",
    "À quelle heure ouvre le guichet ?",
]


async def measure(base_url: str, model: str, rounds: int) -> dict:
    client = AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)
    ttft, rates = [], []
    for _ in range(rounds):
        for q in QUESTIONS:
            t0 = time.perf_counter()
            first, chunks = None, 0
            stream = await client.chat.completions.create(
                model=model, stream=True, max_tokens=80, temperature=0.2,
                messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": q}])
            async for ev in stream:
                if ev.choices and ev.choices[0].delta.content:
                    chunks += 1  # llama.cpp and vLLM stream one token per chunk
                    first = first or time.perf_counter()
            end = time.perf_counter()
            if first is not None:
                ttft.append((first - t0) * 1000)
                if chunks > 1 and end > first:
                    rates.append((chunks - 1) / (end - first))
    return {"ttft_ms_p50": round(statistics.median(ttft), 1), "ttft_ms_max": round(max(ttft), 1),
            "tokens_per_s_p50": round(statistics.median(rates), 1), "requests": len(ttft)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url")
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    server = None
    if not args.base_url:
        server = EmbeddedLlamaServer(resolve("llm", load_settings()).path).start()
        args.base_url = server.base_url
    try:
        out = asyncio.run(measure(args.base_url, args.model, args.rounds))
    finally:
        if server:
            server.stop()
    print(json.dumps(out) if args.json else
          f"time to first token p50 {out['ttft_ms_p50']} ms (max {out['ttft_ms_max']}), "
          f"{out['tokens_per_s_p50']} tokens/s p50, {out['requests']} requests")


if __name__ == "__main__":
    main()

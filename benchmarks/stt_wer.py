"""STT component figures: French WER and real-time factor on the shared clips, 16 kHz and 8 kHz telephone path.

Run: python benchmarks/stt_wer.py [--json] [--model PATH] [--device cpu --compute-type int8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import wave

import numpy as np
import soxr

from voicebot.config import load_settings
from voicebot.models import resolve
from benchmarks.text_metrics import normalise_words
from voicebot.stt.guard import TranscriptGuard
from voicebot.stt.whisper import WhisperEngine

from benchmarks.harness import CLIPS, transcripts


def corpus_wer(pairs: list[tuple[str, str]]) -> float:
    """Total word edits / total reference words over all clips."""
    from benchmarks.text_metrics import wer

    words = sum(len(normalise_words(r)) for r, _ in pairs)
    return sum(wer(r, h) * len(normalise_words(r)) for r, h in pairs) / max(1, words)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--model")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--compute-type", default="int8")
    ap.add_argument("--encoder-window", choices=("full", "speech"), default="full",
                    help="Whisper's encoder on its 30-s window, or on the turn only (stt.encoder_window)")
    ap.add_argument("--encoder-min-s", type=float, default=10.0, help="shortest 'speech' window (stt.encoder_min_s)")
    args = ap.parse_args()
    path = args.model or resolve("stt", load_settings()).path
    engine = WhisperEngine(path, device=args.device, compute_type=args.compute_type,
                           encoder_window=args.encoder_window, encoder_min_s=args.encoder_min_s)
    guard = TranscriptGuard()
    refs = transcripts()
    out = {"model": str(path), "clips": len(refs), "encoder_window": args.encoder_window,
           "encoder_min_s": args.encoder_min_s if args.encoder_window == "speech" else None}
    per_clip = {}
    engine.transcribe(np.zeros(16000, dtype=np.float32))  # warm-up, not timed
    for label, rate in (("16k", 16000), ("8k_telephone", 8000)):
        pairs, rtfs, elapsed = [], [], []
        for name, ref in sorted(refs.items()):
            with wave.open(str(CLIPS / name)) as w:
                audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768
            if rate != 16000:  # the telephone path: down to 8 kHz and back up, as the pipeline does
                audio = soxr.resample(soxr.resample(audio, 16000, rate), rate, 16000)
            t = engine.transcribe(audio)
            text = guard.check(t.text, avg_logprob=t.avg_logprob, no_speech_prob=t.no_speech_prob,
                               compression_ratio=t.compression_ratio, duration_s=t.duration_s).text
            pairs.append((ref, text))
            rtfs.append(t.elapsed_s / t.duration_s)
            elapsed.append(t.elapsed_s * 1000)
            from benchmarks.text_metrics import wer

            per_clip.setdefault(name, {})[label] = round(wer(ref, text), 3)
        out[label] = {"wer": round(corpus_wer(pairs), 3), "rtf_p50": round(statistics.median(rtfs), 3),
                      "rtf_mean": round(statistics.mean(rtfs), 3),
                      "ms_p50": round(statistics.median(elapsed)), "ms_p95": round(float(np.percentile(elapsed, 95)))}
    out["per_clip_wer"] = per_clip
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        for label in ("16k", "8k_telephone"):
            r = out[label]
            print(f"{label:13s} WER {r['wer']:.3f}  RTF p50 {r['rtf_p50']:.3f}  mean {r['rtf_mean']:.3f}  "
                  f"ms p50 {r['ms_p50']}  p95 {r['ms_p95']}")


if __name__ == "__main__":
    main()

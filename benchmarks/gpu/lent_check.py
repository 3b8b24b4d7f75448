# SPDX-License-Identifier: EUPL-1.2
"""GPU check that fits a lent machine (PyTorch + transformers, no CTranslate2, no network).

Speech-to-text on the GPU with the embedded Whisper weights (converted by benchmarks/gpu/ct2_whisper.py and
carried in parts), then:
1. correctness: the carried clips transcribed on the GPU, WER against their transcripts (and against the
   CPU faster-whisper transcripts recorded when the parts were made);
2. batched throughput: one decode of B turns at once, for B up to 256: seconds of speech per second;
3. turn latency with GPU STT under load: N simulated calls each ending a turn every ``--period`` seconds
   (random phase), through voicebot's own STTScheduler (the one the server uses) batching on the GPU;
   end of turn -> transcript p50/p95 per N, and the most streams whose p95 stays under ``--budget-ms``.

    python3 benchmarks/gpu/lent_check.py --parts DIR [--out DIR] [--device cuda]
It also runs on a CPU (``--device cpu --quick``), which is how it was checked before any GPU was lent.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import random
import statistics
import sys
import time
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo: voicebot.stt.scheduler, ct2_whisper

from benchmarks.gpu.ct2_whisper import unpack_int8  # noqa: E402
from voicebot.stt.scheduler import STTScheduler  # noqa: E402


def load_model(parts_dir: Path, device: str):
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    meta = json.loads((parts_dir / "part1" / "whisper.json").read_text())
    blob = b"".join((parts_dir / p).read_bytes() for p in meta["parts"])
    if hashlib.sha256(blob).hexdigest() != meta["sha256"]:
        raise SystemExit("weights parts do not match their sha256: carry them again")
    cfg = WhisperConfig(**meta["config"], pad_token_id=50257, bos_token_id=50257, eos_token_id=50257,
                        decoder_start_token_id=50258)
    model = WhisperForConditionalGeneration(cfg)
    state = {k: torch.from_numpy(v) for k, v in unpack_int8(blob).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if "proj_out" not in k]
    if missing or unexpected:
        raise SystemExit(f"weights do not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    dtype = torch.float16 if device == "cuda" else torch.float32
    model = model.to(device=device, dtype=dtype).eval()
    fe = WhisperFeatureExtractor(feature_size=meta["config"]["num_mel_bins"])
    return model, fe, dtype


class Decoder:
    """Greedy batched Whisper decoding (French, transcribe, no timestamps) with the KV cache."""

    def __init__(self, model, fe, dtype, tokenizer_path: Path, device: str, max_new_tokens: int = 96):
        from tokenizers import Tokenizer

        self.model, self.fe, self.dtype, self.device = model, fe, dtype, device
        self.tok = Tokenizer.from_file(str(tokenizer_path))
        ids = [self.tok.token_to_id(t) for t in ("<|startoftranscript|>", "<|fr|>", "<|transcribe|>",
                                                  "<|notimestamps|>")]
        self.prompt, self.eot = ids, self.tok.token_to_id("<|endoftext|>")
        self.max_new_tokens = max_new_tokens

    def __call__(self, audios: list[np.ndarray]) -> list[str]:
        import torch

        feats = self.fe([a[: 30 * 16000] for a in audios], sampling_rate=16000, return_tensors="pt").input_features
        feats = feats.to(self.device, self.dtype)
        b = feats.shape[0]
        with torch.inference_mode():
            enc = self.model.model.encoder(feats).last_hidden_state
            tokens = torch.tensor([self.prompt] * b, device=self.device)
            out = self.model(encoder_outputs=(enc,), decoder_input_ids=tokens, use_cache=True)
            done = torch.zeros(b, dtype=torch.bool, device=self.device)
            result = []
            for _ in range(self.max_new_tokens):
                nxt = out.logits[:, -1].argmax(-1)
                nxt = torch.where(done, torch.full_like(nxt, self.eot), nxt)
                result.append(nxt)
                done |= nxt == self.eot
                if bool(done.all()):
                    break
                out = self.model(encoder_outputs=(enc,), decoder_input_ids=nxt[:, None],
                                 past_key_values=out.past_key_values, use_cache=True)
            if self.device == "cuda":
                torch.cuda.synchronize()
        seqs = torch.stack(result, 1).tolist() if result else [[] for _ in range(b)]
        return [self.tok.decode([t for t in s if t < self.eot]).strip() for s in seqs]


def read_clip(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0


def wer(ref: str, hyp: str) -> float:
    import re

    norm = lambda s: re.sub(r"[^\w' ]+", " ", s.lower()).split()  # noqa: E731
    r, h = norm(ref), norm(hyp)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
    return d[len(h)] / max(1, len(r))


def throughput(decode: Decoder, clips: list[np.ndarray], sizes: list[int]) -> list[dict]:
    rows = []
    for b in sizes:
        batch = [clips[i % len(clips)] for i in range(b)]
        decode(batch)  # warm-up at this shape
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            decode(batch)
            times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        audio_s = sum(len(a) for a in batch) / 16000
        rows.append({"batch": b, "decode_s": round(t, 3), "speech_s_per_s": round(audio_s / t, 1)})
        print(f"  batch {b:4d}: {t * 1000:8.1f} ms for {audio_s:7.1f} s of speech "
              f"({audio_s / t:8.1f} s of speech per second)", flush=True)
    return rows


async def load_level(decode: Decoder, clips: list[np.ndarray], streams: int, period_s: float, run_s: float,
                     batch: int) -> dict:
    """``streams`` calls, each ending a turn every period_s (random phase); STT latency of each turn."""
    sched = STTScheduler(decode, max_parallel=1, batch_size=batch)
    lat: list[float] = []

    async def call(k: int) -> None:
        rnd = random.Random(k)
        await asyncio.sleep(rnd.uniform(0, period_s))
        end = time.monotonic() + run_s
        while time.monotonic() < end:
            t0 = time.monotonic()
            await sched.submit(clips[rnd.randrange(len(clips))])
            lat.append((time.monotonic() - t0) * 1000)
            await asyncio.sleep(max(0.0, period_s - (time.monotonic() - t0)))

    await asyncio.gather(*(call(k) for k in range(streams)))
    return {"streams": streams, "turns": len(lat), "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p95_ms": round(float(np.percentile(lat, 95)), 1), "largest_batch": sched.stats["largest_batch"]}


def main() -> int:
    ap = argparse.ArgumentParser(description="GPU STT check with the embedded Whisper weights")
    ap.add_argument("--parts", type=Path, required=True, help="folder with part1/, part2/… from ct2_whisper.py")
    ap.add_argument("--clips", type=Path, help="folder of 16 kHz clips + manifest.csv (default: PARTS/clips)")
    ap.add_argument("--out", type=Path, default=Path("."))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="small sizes (a CPU check of the script itself)")
    ap.add_argument("--period", type=float, default=6.0, help="seconds between a call's turns")
    ap.add_argument("--budget-ms", type=float, default=500.0, help="STT p95 a stream may wait at most")
    a = ap.parse_args()
    t_start = time.monotonic()
    clip_dir = a.clips or a.parts / "clips"
    with (clip_dir / "manifest.csv").open(encoding="utf-8") as f:
        manifest = list(csv.DictReader(f))
    clips = [read_clip(clip_dir / m["file"]) for m in manifest]
    model, fe, dtype = load_model(a.parts, a.device)
    decode = Decoder(model, fe, dtype, a.parts / "part1" / "tokenizer.json", a.device)
    report: dict = {"device": a.device, "load_s": round(time.monotonic() - t_start, 1)}
    if a.device == "cuda":
        import torch

        report["gpu"] = torch.cuda.get_device_name(0)
    texts = decode(clips)
    report["correctness"] = [{"file": m["file"], "reference": m["transcript"], "gpu": t,
                              "cpu_faster_whisper": m.get("cpu_transcript", ""),
                              "wer": round(wer(m["transcript"], t), 3),
                              "wer_vs_cpu": round(wer(m.get("cpu_transcript", ""), t), 3) if m.get("cpu_transcript")
                              else None} for m, t in zip(manifest, texts, strict=True)]
    report["wer_mean"] = round(statistics.mean(r["wer"] for r in report["correctness"]), 3)
    print(f"WER on {len(clips)} clips: {report['wer_mean']}", flush=True)
    sizes = [1, 4] if a.quick else [1, 8, 32, 64, 128, 256]
    report["throughput"] = throughput(decode, clips, sizes)
    levels = [1, 4] if a.quick else [1, 10, 50, 100, 200, 400]
    run_s = 8.0 if a.quick else 20.0
    report["load"] = []
    for n in levels:
        row = asyncio.run(load_level(decode, clips, n, a.period, run_s, batch=min(256, max(1, n))))
        report["load"].append(row)
        print(f"  {n:4d} streams: STT p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms "
              f"({row['turns']} turns, largest batch {row['largest_batch']})", flush=True)
    ok = [r["streams"] for r in report["load"] if r["p95_ms"] <= a.budget_ms]
    report["streams_within_budget"] = max(ok) if ok else 0
    report["budget_ms"], report["period_s"] = a.budget_ms, a.period
    report["duration_s"] = round(time.monotonic() - t_start, 1)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "gpu_stt.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(json.dumps({k: report[k] for k in ("device", "wer_mean", "streams_within_budget", "duration_s")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

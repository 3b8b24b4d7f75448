#!/usr/bin/env bash
# GPU STT check for a *lent* machine (PyTorch 2.11/CUDA 13 + transformers, no CTranslate2, no network,
# at most 64 MiB carried per call). benchmarks/gpu/run.sh stays the check for the region's own servers
# (production weights + vLLM); this one needs only the embedded Whisper weights, carried in two parts.
#
#   here:      bash benchmarks/gpu/lent_check.sh prepare      # builds .gpu/ (ignored by git), ~1 min on CPU
#   device 1:  run(command="bash benchmarks/gpu/lent_check.sh stash", carry=[".gpu/part1"], timeout_s=120)
#   device 2:  run(command="bash benchmarks/gpu/lent_check.sh run", carry=[".gpu/part2", ".gpu/clips"],
#                  timeout_s=600)   # back to back, while the machine is still warm
# The second call writes $OUT/gpu_stt.json (WER on the carried clips, batched throughput, STT latency at
# 1–400 simulated calls through voicebot's STTScheduler) and stays under 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
STASH=/tmp/voicebot-gpu
case "${1:-}" in
  prepare)
    PY="${PYTHON:-/work/main/.venv/bin/python}"
    exclude="$(git rev-parse --git-path info/exclude)"
    grep -qx '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >> "$exclude"
    rm -rf .gpu && mkdir -p .gpu/clips
    model_dir="$("$PY" -c 'from voicebot.config import load_settings; from voicebot.models import resolve; print(resolve("stt", load_settings()).path)')"
    "$PY" -m benchmarks.gpu.ct2_whisper "$model_dir" .gpu --part-mib 56
    # 10 shared clips with their transcripts, and what faster-whisper (int8, CPU) makes of them
    "$PY" - "$model_dir" <<'EOF'
import csv, shutil, sys
from pathlib import Path
from voicebot.harness import CLIPS, transcripts
from voicebot.stt.whisper import WhisperEngine
from voicebot.telephony.caller import read_wav
eng = WhisperEngine(sys.argv[1])
names = ["001.wav", "002.wav", "004.wav", "005.wav", "012.wav", "013.wav", "023.wav", "027.wav", "029.wav", "033.wav"]
ref = transcripts()
with open(".gpu/clips/manifest.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["file", "transcript", "cpu_transcript"])
    for n in names:
        shutil.copyfile(CLIPS / n, Path(".gpu/clips") / n)
        cpu = eng.transcribe(read_wav(CLIPS / n, 16000).astype("float32") / 32768.0).text
        w.writerow([n, ref[n], cpu])
EOF
    du -sh .gpu/*
    ;;
  stash)
    test -d .gpu/part1 || { echo "carry .gpu/part1"; exit 2; }
    mkdir -p "$STASH" && rm -rf "$STASH/part1" && cp -r .gpu/part1 "$STASH/part1"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    du -sh "$STASH"/*
    ;;
  run)
    mkdir -p "$STASH"
    for d in part2 clips; do test -d ".gpu/$d" || { echo "carry .gpu/$d"; exit 2; }; rm -rf "$STASH/$d"; cp -r ".gpu/$d" "$STASH/$d"; done
    test -d "$STASH/part1" || { test -d .gpu/part1 && cp -r .gpu/part1 "$STASH/part1"; } || { echo "part1 missing: run 'stash' first"; exit 2; }
    OUT="${OUT:-$STASH/out}"
    mkdir -p "$OUT"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt" || true
    timeout 560 python3 benchmarks/gpu/lent_check.py --parts "$STASH" --out "$OUT" --device cuda
    ;;
  *)
    echo "usage: $0 prepare|stash|run"; exit 2 ;;
esac

#!/usr/bin/env bash
# GPU latency profile: vLLM (Mistral-Small-3.2-24B-Instruct, bf16, prefix caching) + faster-whisper
# large-v3-turbo float16 on one H100/H200, then the voicebot latency harness at 1, 10, 50, 100 concurrent
# calls. Needs the production weights already on the machine (HF cache / `voicebot models pull stt tts`)
# and `pip install -e '.[gpu,embedded,piper,dev]'`. Finishes inside 10 minutes; no test depends on it.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL="${VOICEBOT_GPU_LLM:-mistralai/Mistral-Small-3.2-24B-Instruct-2506}"
OUT="${1:-benchmarks/results/$(date +%F)-$(hostname)-gpu}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
# Mistral's tokenizer/config formats; 0.85 of the GPU for vLLM leaves room for Whisper.
timeout 580 vllm serve "$MODEL" --host 127.0.0.1 --port 8000 --dtype bfloat16 --max-model-len 8192 \
  --enable-prefix-caching --gpu-memory-utilization 0.80 --tokenizer-mode mistral --config-format mistral \
  --load-format mistral > "$OUT/vllm.log" 2>&1 &
VLLM=$!
trap 'kill $VLLM 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do curl -sf http://127.0.0.1:8000/v1/models >/dev/null && break; sleep 1; done
curl -sf http://127.0.0.1:8000/v1/models >/dev/null || { echo "vLLM did not start"; tail -50 "$OUT/vllm.log"; exit 1; }
timeout 420 .venv/bin/voicebot bench latency --config benchmarks/gpu/voicebot-gpu.toml --skip-reference \
  --calls 3 --levels 1,10,50,100 --out "$OUT" | tee "$OUT/summary.txt"

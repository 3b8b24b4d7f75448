#!/usr/bin/env bash
# Builds voicebot's container images with podman, offline from Debian packages and PyPI:
#   localhost/voicebot-base:bookworm   Debian 12 minbase (debootstrap; no registry needed)
#   localhost/voicebot:cpu             the worker, embedded offline models baked in
#   localhost/kamailio:voicebot        the SIP load balancer (dispatcher + OPTIONS probing)
#   localhost/redis:voicebot, localhost/postgres:voicebot   Debian's redis-server and PostgreSQL 15
#   localhost/voicebot:gpu             only with --gpu: faster-whisper on CUDA (NVIDIA's cuBLAS/cuDNN wheels from PyPI)
#
# Python packages are built ONCE on the host into deploy/.wheels/ (git-ignored; llama-cpp-python compiles
# for ~6 min on 2 cores) at the versions pinned in deploy/images/constraints.txt, then installed in the
# image with `pip install --no-index`. Layers are ordered so that a code change rebuilds only the last
# small layers. Usage: deploy/images/build.sh [--gpu] [--tag TAG]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
IMAGES=deploy/images
WHEELS=deploy/.wheels
BUILD=deploy/.build
TAG=dev
GPU=0
while [ $# -gt 0 ]; do
  case "$1" in
    --gpu) GPU=1 ;;
    --tag) TAG=$2; shift ;;
    *) echo "usage: $0 [--gpu] [--tag TAG]" >&2; exit 2 ;;
  esac
  shift
done
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/$IMAGES/containers.conf}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
mkdir -p "$WHEELS" "$BUILD"
t0=$(date +%s)
say() { echo "build.sh: $* (+$(( $(date +%s) - t0 )) s)"; }

# 1. Debian base image, from Debian packages (debootstrap), imported into podman.
if ! podman image exists localhost/voicebot-base:bookworm; then
  MIRROR=${DEBIAN_MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  rootfs=$(mktemp -d /tmp/voicebot-rootfs.XXXXXX)
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$MIRROR" >/dev/null
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - localhost/voicebot-base:bookworm >/dev/null
  rm -rf "$rootfs"
  say "base image imported"
fi

# 2. Wheels of the worker's runtime dependencies, at the locked versions (built once, reused).
python3 - "$BUILD/requirements-cpu.txt" <<'EOF'
import sys, tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
reqs = p["dependencies"] + p["optional-dependencies"]["embedded"] + p["optional-dependencies"]["piper"]
# The image runs Debian 12's Python 3.11.2, the build host may run a later 3.11: the one dependency whose
# marker differs between them (redis needs async-timeout before 3.11.3) is added, pinned, here.
reqs.append("async-timeout==5.0.1; python_full_version < '3.11.3'")
open(sys.argv[1], "w").write("".join(r + "\n" for r in reqs))
EOF
stamp=$(cat "$BUILD/requirements-cpu.txt" "$IMAGES/constraints.txt" | sha256sum | cut -c1-16)
if [ ! -f "$WHEELS/cpu-$stamp.done" ]; then
  "$PYTHON" -m pip wheel -q --wheel-dir "$WHEELS/cpu" --find-links "$WHEELS/cpu" -c "$IMAGES/constraints.txt" \
    -r "$BUILD/requirements-cpu.txt"
  "$PYTHON" -m pip wheel -q --no-deps --wheel-dir "$WHEELS/cpu" async-timeout==5.0.1
  touch "$WHEELS/cpu-$stamp.done"
  say "wheels built"
fi
# The project itself, as a wheel (its content decides whether the last layers rebuild).
rm -f "$BUILD"/voicebot-*.whl
# Fixed timestamps inside the wheel: the same code gives the same bytes, so the image layers stay cached.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 315532800)}
"$PYTHON" -m pip wheel -q --no-deps --no-build-isolation --wheel-dir "$BUILD" . 2>/dev/null \
  || "$PYTHON" -m pip wheel -q --no-deps --wheel-dir "$BUILD" .
rm -rf build voicebot.egg-info

# 3. Images. The wheels directory is a build-time volume: it never lands in a layer.
BUILD_ARGS=(--network host --layers -v "$ROOT/$WHEELS/cpu:/wheels:ro")
if [ -d /etc/ssl/certs ]; then BUILD_ARGS+=(-v /etc/ssl/certs:/etc/ssl/certs:ro); fi
podman build "${BUILD_ARGS[@]}" -f "$IMAGES/Containerfile.voicebot" -t "localhost/voicebot:cpu" \
  -t "localhost/voicebot:cpu-$TAG" .
say "voicebot:cpu built"
for name in kamailio redis postgres; do
  podman build --network host --layers -f "$IMAGES/Containerfile.$name" -t "localhost/$name:voicebot" .
  say "$name built"
done
if [ "$GPU" = 1 ]; then
  # Same base and wheels as the CPU image, minus llama.cpp (the LLM is vLLM), plus NVIDIA's cuBLAS/cuDNN
  # wheels from PyPI (constraints-gpu.txt): no CUDA base image, so no registry.
  python3 - "$BUILD/requirements-gpu.txt" "$IMAGES/constraints-gpu.txt" <<'PYEOF'
import sys, tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
nvidia = [l.split("==")[0] for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")]
reqs = p["dependencies"] + p["optional-dependencies"]["piper"] + nvidia
reqs.append("async-timeout==5.0.1; python_full_version < '3.11.3'")
open(sys.argv[1], "w").write("".join(r + "\n" for r in reqs))
PYEOF
  mkdir -p "$WHEELS/gpu"
  "$PYTHON" -m pip download -q --only-binary=:all: --dest "$WHEELS/gpu" -r "$IMAGES/constraints-gpu.txt"
  say "NVIDIA wheels present"
  podman build "${BUILD_ARGS[@]}" -v "$ROOT/$WHEELS/gpu:/wheels-gpu:ro" -f "$IMAGES/Containerfile.voicebot-gpu" \
    -t "localhost/voicebot:gpu" -t "localhost/voicebot:gpu-$TAG" .
  say "voicebot:gpu built"
fi
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'voicebot|kamailio' || true
say "done"

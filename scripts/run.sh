#!/usr/bin/env bash
# Installs what is missing, builds the release binary and starts the proxy on its defaults:
# listen 0.0.0.0:2222, SQLite and host keys in the default data directory
# (/var/lib/switchboard for root, ~/.local/share/switchboard otherwise).
# Extra arguments go to `switchboard serve`, e.g. scripts/run.sh --listen 127.0.0.1:2222
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product switchboard
# glibc caches per thread only freed blocks of up to 64 bytes: an idle session then costs about
# 23 KiB less (docs/PERFORMANCE.md, idle memory). An operator's own GLIBC_TUNABLES is kept.
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.tcache_max=64}"
exec .build/release/switchboard serve "$@"

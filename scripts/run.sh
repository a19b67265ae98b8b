#!/usr/bin/env bash
# Installs what is missing, builds the release binary and starts the proxy on its defaults:
# listen 0.0.0.0:2222, SQLite and host keys in the default data directory
# (/var/lib/switchboard for root, ~/.local/share/switchboard otherwise).
# Extra arguments go to `switchboard serve`, e.g. scripts/run.sh --listen 127.0.0.1:2222
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product switchboard
exec .build/release/switchboard serve "$@"

#!/usr/bin/env bash
# A short run of the benchmark, to keep it working: it checks the mechanics, not the targets.
set -uo pipefail
cd "$(dirname "$0")/.."
if python3 bench/bench.py --smoke; then
  echo "PASS benchmark smoke run"
else
  echo "FAIL benchmark smoke run"
  exit 1
fi

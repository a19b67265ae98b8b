#!/usr/bin/env bash
# A short run of the benchmarks, to keep them working: it checks the mechanics, not the targets.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
if python3 bench/bench.py --smoke; then
  echo "PASS benchmark smoke run"
else
  echo "FAIL benchmark smoke run"
  status=1
fi
if python3 bench/scale.py --smoke; then
  echo "PASS scale benchmark smoke run"
else
  echo "FAIL scale benchmark smoke run"
  status=1
fi
exit $status

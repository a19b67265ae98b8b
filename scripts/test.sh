#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test: unit tests and the end-to-end
# tests that start real OpenSSH sshd upstreams on loopback and drive ssh, scp, sftp, rsync
# and tmux through the proxy. The end-to-end tests create the users sbt-alice, sbt-bob and
# sbt-deploy, so they must run as root (CI does).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
swift test --skip-build --disable-swift-testing "$@" 2>&1 | tee "$log" || status=$?
# Restate XCTest's per-test results as one plain closing line.
passed=$(grep -cE "^Test Case '.*' passed" "$log" || true)
failed=$(grep -cE "^Test Case '.*' failed" "$log" || true)
echo "tests: $passed passed, $failed failed"
exit "$status"

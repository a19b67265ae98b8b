#!/usr/bin/env bash
# Runs the end-to-end tests against a proxy built with a sanitizer, to catch memory errors
# (AddressSanitizer) that only show under real traffic and hostile clients.
#   scripts/sanitize.sh                 AddressSanitizer, every end-to-end test
#   scripts/sanitize.sh thread          ThreadSanitizer
#   scripts/sanitize.sh address HostilePeerTests     only these tests (a swift test --filter)
# The proxy binary is built with the sanitizer in .build-<sanitizer>; the tests themselves are
# the normal build, and start that binary through SWITCHBOARD_BIN. A sanitizer report makes the
# proxy exit with an error, which fails the test that was running; every report is also written
# to .build-<sanitizer>/reports/report.<pid>.
set -uo pipefail
cd "$(dirname "$0")/.."
sanitizer=${1:-address}
filter=${2:-EndToEndTests}
scripts/install-deps.sh --test || exit 1
swift build -c debug --sanitize="$sanitizer" --scratch-path ".build-$sanitizer" --product switchboard || exit 1
swift build --build-tests || exit 1
binary="$(swift build -c debug --sanitize="$sanitizer" --scratch-path ".build-$sanitizer" --show-bin-path)/switchboard"
reports="$PWD/.build-$sanitizer/reports"
rm -rf "$reports" && mkdir -p "$reports"
export SWITCHBOARD_BIN="$binary"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:log_path=$reports/report"
export TSAN_OPTIONS="halt_on_error=0:log_path=$reports/report"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift test --skip-build --disable-swift-testing --filter "$filter" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
found=$(cat "$reports"/report.* 2>/dev/null | grep -cE 'ERROR: (AddressSanitizer|ThreadSanitizer)|WARNING: ThreadSanitizer')
echo "sanitizer $sanitizer: $(grep -cE "^Test Case '.*' passed" "$log") passed, $(grep -cE "^Test Case '.*' failed" "$log") failed, $found reports (in $reports)"
[[ $status -eq 0 && $found -eq 0 ]]

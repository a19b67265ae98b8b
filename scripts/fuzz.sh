#!/usr/bin/env bash
# Fuzzes every parser of untrusted bytes the proxy owns with libFuzzer (Fuzz/Sources): the PROXY
# protocol header, the metrics endpoint's request line, authorized_keys text, the YAML file,
# OpenSSH certificate blobs.
#   scripts/fuzz.sh                 30 seconds per target
#   scripts/fuzz.sh 600             ten minutes per target
#   scripts/fuzz.sh 600 config-file only these targets
# Each target starts from a copy of its committed seeds (Fuzz/Corpus/<target>/); what a run
# discovers stays in a temporary directory. A crash or a broken invariant fails the target; its
# input is kept in .build-fuzz/findings/ with the command that replays it. Prints one PASS or
# FAIL line per target and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift $(( $# > 0 ? 1 : 0 ))
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(proxy-protocol http-request authorized-keys config-file openssh-certificate admin-request)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# SwiftPM passes each --sanitize as its own -sanitize= flag, in no fixed order, and swiftc keeps
# only the last one: fuzzer alone loses AddressSanitizer, address alone loses the coverage
# libFuzzer needs. The combined flag, last, gives both.
started=$SECONDS
if ! SWITCHBOARD_FUZZ=1 swift build --scratch-path .build-fuzz --product switchboard-fuzz \
    --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address >"$scratch/build.log" 2>&1; then
  grep -v "Cannot export local symbol" "$scratch/build.log" | tail -n 40
  echo "FAIL fuzz build (swift build of switchboard-fuzz failed)"
  exit 1
fi
echo "built switchboard-fuzz in $((SECONDS - started)) s"
binary="$PWD/.build-fuzz/debug/switchboard-fuzz"
findings="$PWD/.build-fuzz/findings"
mkdir -p "$findings"

failed=0
for target in "${targets[@]}"; do
  if [[ ! -d "Fuzz/Corpus/$target" ]]; then
    echo "FAIL fuzz $target (no seed corpus in Fuzz/Corpus/$target)"
    failed=1
    continue
  fi
  corpus="$scratch/$target"
  mkdir -p "$corpus"
  cp Fuzz/Corpus/"$target"/* "$corpus"/
  log="$scratch/$target.log"
  # The Swift runtime's backtracer would hold the output open after a crash; libFuzzer reports.
  SWIFT_BACKTRACE=enable=no SWITCHBOARD_FUZZ_TARGET="$target" timeout $((seconds + 120)) "$binary" \
    -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$findings/$target-" "$corpus" >"$log" 2>&1
  status=$?
  execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$')
  coverage=$(grep -oE '^#[0-9]+[[:space:]]+[A-Za-z]+[[:space:]]+cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$')
  finding=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -1 | sed 's/Test unit written to //')
  if [[ $status -ne 0 ]]; then
    why=$(grep -m1 -E 'invariant broken|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|Fatal error' "$log" | cut -c1-200)
    echo "FAIL fuzz $target (exit $status: ${why:-see the log below})"
    [[ -n "$finding" ]] && echo "  input: $finding; replay: SWIFT_BACKTRACE=enable=no SWITCHBOARD_FUZZ_TARGET=$target $binary $finding"
    tail -n 40 "$log" | sed 's/^/  | /'
    failed=1
  elif grep -q "no interesting inputs were found" "$log"; then
    echo "FAIL fuzz $target (no coverage: the binary is not instrumented)"
    failed=1
  else
    echo "PASS fuzz $target (${execs:-?} execs, ${coverage:-?} cov)"
  fi
done
exit $failed

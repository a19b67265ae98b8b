#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test:
#   1. swift test: unit tests, and end-to-end tests that start real OpenSSH sshd upstreams on
#      loopback and drive ssh, scp, sftp, rsync, tmux, ssh-agent and ssh-audit through the proxy;
#      The store tests run on SQLite and on a throw-away PostgreSQL this script starts
#      (scripts/postgres.sh; SWITCHBOARD_TEST_DATABASE names it);
#   2. docker/netns-lab.sh: the multi-host lab in network namespaces, and docker/cluster-lab.sh:
#      three nodes on PostgreSQL behind HAProxy;
#   3. scripts/check-docker.sh: docker-compose and Dockerfile validation;
#   4. bench/bench.py --smoke and bench/scale.py --smoke: short runs of the benchmarks (their mechanics, not their targets);
#   5. scripts/fuzz.sh 30: each parser of untrusted bytes under libFuzzer for 30 seconds.
# The end-to-end tests and the lab create local users (sbt-*, sblab-*) and network namespaces,
# so they must run as root (CI does).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test || exit 1
swift build --build-tests || exit 1

log=$(mktemp)
postgres_dir=$(mktemp -d /tmp/switchboard-test-postgres.XXXXXX)
trap 'rm -f "$log"; scripts/postgres.sh stop "$postgres_dir" >/dev/null 2>&1' EXIT
postgres_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if SWITCHBOARD_TEST_DATABASE=$(scripts/postgres.sh start "$postgres_dir" "$postgres_port"); then
  export SWITCHBOARD_TEST_DATABASE
else
  echo "test.sh: PostgreSQL did not start; its store tests will fail under CI=true" >&2
fi
swift test --skip-build --disable-swift-testing "$@" 2>&1 | tee "$log"
swift_status=${PIPESTATUS[0]}
passed=$(grep -cE "^Test Case '.*' passed" "$log")
failed=$(grep -cE "^Test Case '.*' failed" "$log")
if [[ $swift_status -ne 0 && $failed -eq 0 ]]; then failed=1; fi

for suite in docker/netns-lab.sh docker/cluster-lab.sh scripts/check-docker.sh scripts/bench-smoke.sh "scripts/fuzz.sh 30"; do
  if [[ $# -gt 0 ]]; then break; fi   # a filtered run (arguments for swift test) runs only those tests
  echo "== $suite"
  $suite | tee "$log"
  suite_status=${PIPESTATUS[0]}
  passed=$((passed + $(grep -c '^PASS ' "$log")))
  failed=$((failed + $(grep -c '^FAIL ' "$log")))
  if [[ $suite_status -ne 0 && $(grep -c '^FAIL ' "$log") -eq 0 ]]; then failed=$((failed + 1)); fi
done

echo "tests: $passed passed, $failed failed"
[[ $failed -eq 0 ]]

